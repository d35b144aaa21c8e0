"""Build everything from a composed config and run one Lightning training stage."""

from __future__ import annotations

import os
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from ans.audio import atomic_write_text
from ans.errors import AnsError
from ans.lightning.callbacks import AtomicCheckpointIO, ExportModel
from ans.lightning.distill_module import DistillModule
from ans.lightning.mask_module import MaskModule
from ans.paths import newest
from ans.rundir import first_missing, holds_lock, lock_run_dir, release_run_dir, remove_leftovers


def resolve_resume(cfg: DictConfig) -> str | None:
    """ckpt_path: explicit path | "last" (newest run of this task) | null (auto: this run_dir)."""
    ckpt = cfg.get("ckpt_path")
    if ckpt == "last":
        found = newest(f"{cfg.paths.output_dir}/{cfg.task_name}/*/checkpoints/last.ckpt")
        if found is None:
            raise AnsError(f"ckpt_path=last: no {cfg.task_name} run with checkpoints/last.ckpt "
                           f"under {cfg.paths.output_dir}")
        return found
    if ckpt:
        if not Path(ckpt).is_file():
            raise AnsError("no such checkpoint", ckpt)
        return str(ckpt)
    auto = Path(cfg.paths.run_dir) / "checkpoints" / "last.ckpt"
    return str(auto) if auto.is_file() else None


def check_budget(cfg: DictConfig) -> None:
    """Refuse step budgets that train nothing or never stop (before anything is built or written)."""
    max_steps = cfg.trainer.get("max_steps")
    max_steps = -1 if max_steps is None else int(max_steps)
    max_epochs = cfg.trainer.get("max_epochs")
    if max_steps == 0:
        raise AnsError("trainer.max_steps=0 trains nothing and writes no model.pt: give a budget > 0")
    if max_steps < -1:
        raise AnsError(f"trainer.max_steps must be > 0, got {max_steps}")
    if max_steps == -1 and max_epochs is not None and int(max_epochs) == -1 and not cfg.trainer.get("max_time"):
        raise AnsError("trainer.max_steps=-1 with trainer.max_epochs=-1 would train forever: "
                       "set trainer.max_steps=N (or trainer.max_epochs=N, or trainer.max_time)")


def check_resumable(module: MaskModule, ckpt_path: str, cfg: DictConfig) -> None:
    """Resuming needs the checkpoint's architecture: compare tensor shapes before any write."""
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False, mmap=True)
        theirs = {k.removeprefix("model."): tuple(v.shape) for k, v in ckpt["state_dict"].items()
                  if k.startswith("model.")}
    except Exception as e:  # noqa: BLE001 - any unreadable file: one line
        raise AnsError(f"cannot resume: not a readable Lightning checkpoint ({type(e).__name__})", ckpt_path) from None
    ours = {k: tuple(v.shape) for k, v in module.model.state_dict().items()}
    if theirs == ours:
        return
    saved = Path(ckpt_path).parents[1] / "config.yaml"
    changed = ""
    if saved.is_file():
        was = OmegaConf.to_container(OmegaConf.load(saved).get("model", {}), resolve=True)
        now = OmegaConf.to_container(cfg.model, resolve=True)
        diffs = [f"model.{k}={was.get(k)} there, {now.get(k)} now" for k in sorted(set(was) | set(now))
                 if was.get(k) != now.get(k)]
        changed = f" ({'; '.join(diffs[:3])})" if diffs else ""
    raise AnsError(f"cannot resume: the checkpoint holds another architecture than the config builds{changed}; "
                   "resume with the run's own model settings or pick another run_name=", ckpt_path)


def resolve_teacher(cfg: DictConfig) -> str:
    path = cfg.get("teacher_ckpt")
    if path:
        if not Path(path).is_file():
            raise AnsError("teacher_ckpt: no such model file", path)
        return str(path)
    found = newest(f"{cfg.paths.output_dir}/teacher/*/model.pt")
    if found is None:
        raise AnsError("no teacher to distil from: train one first (python -m ans.train teacher) "
                       "or pass teacher_ckpt=PATH/model.pt")
    print(f"ans.train: distilling from the newest teacher {found}")
    return found


def build_module(cfg: DictConfig) -> MaskModule:
    kwargs = dict(model=instantiate(cfg.model), features=instantiate(cfg.features),
                  loss=instantiate(cfg.loss), augment=instantiate(cfg.augment),
                  optim=OmegaConf.to_container(cfg.optim, resolve=True), kind=cfg.stage,
                  val_metric_items=cfg.val_metric_items)
    if cfg.stage == "student" and cfg.distill.enabled:
        return DistillModule(**kwargs, teacher_ckpt=resolve_teacher(cfg), alpha=cfg.distill.alpha)
    return MaskModule(**kwargs)


def init_from_model(module: MaskModule, path: str, cfg: DictConfig | None = None) -> None:
    """Fine-tuning: start from a model.pt's weights and fbank normaliser (same architecture only)."""
    from ans.checkpoint import load_payload

    payload = load_payload(path)
    from ans.checkpoint import payload_spec

    if payload_spec(payload, path) != module.spec:
        raise AnsError(f"init_from: the file was trained with another signal spec "
                       f"({payload_spec(payload, path).describe()}) than features= gives "
                       f"({module.spec.describe()})", path)
    cls = type(module.model)
    mine = f"{cls.__module__}.{cls.__name__}"
    theirs = {k: tuple(v.shape) for k, v in payload["state_dict"].items()}
    ours = {k: tuple(v.shape) for k, v in module.model.state_dict().items()}
    if payload["model_class"] != mine or theirs != ours:
        hint = _matching_model_option(payload, cfg)
        raise AnsError(f"init_from: architecture mismatch: the file holds {payload['model_class'].rsplit('.', 1)[-1]}"
                       f"({_kw(payload['model_kwargs'])}), the config builds {cls.__name__}"
                       f"({_kw(getattr(module.model, '_init_kwargs', {}))}){hint}", path)
    module.model.load_state_dict(payload["state_dict"])
    module.normalizer.mean.copy_(torch.as_tensor(payload["normalizer"]["mean"]))
    module.normalizer.std.copy_(torch.as_tensor(payload["normalizer"]["std"]))
    module.norm_fitted.fill_(True)
    module.init_info = {"path": str(path), "git_rev": payload.get("git_rev"), "metrics": payload.get("metrics", {})}
    print(f"ans.train: initialised from {path} ({payload.get('kind')}, {payload.get('parameters')} parameters)")


def _kw(kwargs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def _matching_model_option(payload: dict, cfg: DictConfig | None) -> str:
    """'; use model=NAME' when one of configs/model/*.yaml builds the file's architecture."""
    if cfg is None:
        return ""
    from ans.config import CONFIG_DIR, compose

    for option in sorted(p.stem for p in (CONFIG_DIR / "model").glob("*.yaml")):
        model = OmegaConf.to_container(compose(str(cfg.stage), [f"model={option}"]).model, resolve=True)
        kwargs = {k: v for k, v in model.items() if k not in ("_target_", "model_class")}
        if model.get("model_class") == payload["model_class"] and kwargs == payload["model_kwargs"]:
            return f"; use model={option}"
    return ""


def fit_normalizer(module: MaskModule, datamodule: pl.LightningDataModule, n_batches: int) -> None:
    """Per-bin fbank mean/std from a few training batches (no dither), stored in the model."""
    import itertools

    module.fit_normalizer(itertools.islice(datamodule.train_dataloader(), n_batches))


def run(cfg: DictConfig) -> dict:
    """Train one stage; returns the final callback metrics (floats).

    The run folder is locked for the whole run (a second training with the same run_name is
    refused); a run that fails before writing anything of value leaves no folder behind."""
    check_budget(cfg)
    run_dir = Path(cfg.paths.run_dir)
    if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP worker: rank 0 holds the lock
        return _run(cfg)
    created, mine = first_missing(run_dir), not holds_lock(run_dir)
    lock_run_dir(run_dir)
    try:
        return _run(cfg)
    except BaseException:
        if created is not None:
            remove_leftovers(run_dir, created)
        raise
    finally:
        if mine:
            release_run_dir(run_dir)


def _run(cfg: DictConfig) -> dict:
    pl.seed_everything(int(cfg.seed), workers=True)
    # Denormal floats (tiny LSTM/mask gradients) make CPU steps several times slower.
    torch.set_flush_denormal(True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    datamodule = instantiate(cfg.data)
    module = build_module(cfg)
    resume = resolve_resume(cfg)
    if resume:
        check_resumable(module, resume, cfg)
        print(f"ans.train: resuming from {resume}")
    elif cfg.get("init_from"):
        init_from_model(module, str(cfg.init_from), cfg)
    if not resume and not bool(module.norm_fitted):
        datamodule.setup("fit")
        fit_normalizer(module, datamodule, int(cfg.norm_batches))
        pl.seed_everything(int(cfg.seed), workers=True)

    config = OmegaConf.to_container(cfg, resolve=True)
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c is not None]
    callbacks.append(ExportModel(cfg.paths.run_dir, monitor="val/loss", config=config))
    loggers = [instantiate(c) for c in cfg.get("logger", {}).values() if c is not None] or False
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers,
                                      plugins=[AtomicCheckpointIO()])
    atomic_write_text(Path(cfg.paths.run_dir) / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.get("init_from") and cfg.get("validate_first") and not resume:
        # Fine-tuning: score the starting model on the same validation items first (logged at
        # step 0; it is also the first model.pt, so the exported best is never worse).
        trainer.validate(module, datamodule=datamodule, verbose=False)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.as_tensor(v).numel() == 1}
    metrics["global_step"] = trainer.global_step
    model_pt = Path(cfg.paths.run_dir) / "model.pt"
    if not model_pt.is_file():
        raise AnsError(f"training stopped after {trainer.global_step} steps without writing a model.pt", model_pt.parent)
    print(f"ans.train: {cfg.stage} done after {trainer.global_step} steps; model: {model_pt}")
    return metrics
