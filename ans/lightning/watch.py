"""Training you can watch: fixed validation examples as audio + spectrograms, and the gradient norm.

`ValidationExamples`: after every validation, the first `n` items of the (fixed, seeded)
validation set are enhanced by the current model and written to
`<run_dir>/examples/step<N>/<i>_{noisy,enhanced,clean}.wav` and `<i>.png` (noisy / enhanced /
clean log spectrograms) — always, whatever the loggers; and to TensorBoard (add_audio,
add_figure) or wandb (Audio, Image) when those loggers are active.
`GradNorm`: logs `train/grad_norm` (total L2 norm of the gradients, before clipping) each step.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from ans.audio import atomic_write_bytes, write_audio


def spectrogram_png(audio: dict[str, np.ndarray], title: str, sr: int) -> tuple[bytes, object]:
    """PNG bytes (and the matplotlib figure, closed by the caller) of stacked log spectrograms."""
    from ans.eval.plots import _logspec, _plt

    plt = _plt()
    fig, axes = plt.subplots(len(audio), 1, figsize=(8, 2.0 * len(audio)), sharex=True)
    vmax = float(_logspec(audio["clean"]).max()) if "clean" in audio else 0.0
    for ax, (name, x) in zip(np.atleast_1d(axes), audio.items()):
        ax.imshow(_logspec(x), origin="lower", aspect="auto", cmap="magma", vmin=vmax - 90, vmax=vmax,
                  extent=(0, x.size / sr, 0, sr / 2000))
        ax.set_ylabel(f"{name}\nkHz")
    np.atleast_1d(axes)[0].set_title(title)
    np.atleast_1d(axes)[-1].set_xlabel("s")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return buf.getvalue(), fig


class ValidationExamples(pl.Callback):
    def __init__(self, dirpath: str, n: int = 2):
        self.dirpath, self.n = Path(dirpath), int(n)

    @torch.no_grad()
    def on_validation_end(self, trainer: pl.Trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self.n <= 0 or trainer.datamodule is None:
            return
        ds = trainer.datamodule._sets.get("valid")
        if ds is None:
            return
        step, out = trainer.global_step, self.dirpath / f"step{trainer.global_step:07d}"
        sr = pl_module.spec.sample_rate  # the model's rate (16 kHz models write 16 kHz examples)
        was_training = pl_module.training
        pl_module.eval()
        for i in range(min(self.n, len(ds))):
            item = ds[i]
            noisy = item["noisy"][None].float().to(pl_module.device)
            mask = pl_module(pl_module.features.fbank(noisy))
            enhanced = pl_module.features.apply_mask(mask, noisy)[0].cpu().numpy()
            audio = {"noisy": item["noisy"].numpy(), "enhanced": enhanced, "clean": item["clean"].numpy()}
            for name, x in audio.items():
                write_audio(out / f"{i}_{name}.wav", x, sr)
            png, fig = spectrogram_png(audio, f"validation item {i}, step {step}", sr)
            atomic_write_bytes(out / f"{i}.png", png)
            self._to_loggers(trainer, i, step, audio, fig, png, sr)
            from ans.eval.plots import _plt

            _plt().close(fig)
        pl_module.train(was_training)

    @staticmethod
    def _to_loggers(trainer, i, step, audio, fig, png, sr: int) -> None:
        from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                for name, x in audio.items():
                    logger.experiment.add_audio(f"val_examples/{i}_{name}", torch.from_numpy(x)[None],
                                                step, sample_rate=sr)
                logger.experiment.add_figure(f"val_examples/{i}_spectrogram", fig, step, close=False)
            elif isinstance(logger, WandbLogger):
                import wandb
                from PIL import Image

                logger.experiment.log({f"val_examples/{i}_{name}": wandb.Audio(x, sample_rate=sr)
                                       for name, x in audio.items()}
                                      | {f"val_examples/{i}_spectrogram": wandb.Image(Image.open(io.BytesIO(png)))},
                                      step=step)


class GradNorm(pl.Callback):
    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        norms = [p.grad.detach().norm(2) for p in pl_module.parameters() if p.grad is not None]
        if norms:
            pl_module.log("train/grad_norm", torch.linalg.vector_norm(torch.stack(norms)), on_step=True,
                          on_epoch=False, batch_size=1)
