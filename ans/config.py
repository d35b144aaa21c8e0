"""Hydra/OmegaConf helpers: the config folder, the `repo_root` resolver, composing for tests."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from ans.paths import config_dir, project_root

REPO_ROOT = project_root()  # the checkout, or the current directory for an installed wheel
CONFIG_DIR = config_dir()
STAGES = ("teacher", "student")


def _spec_value(name: str, _root_: DictConfig):
    from ans.signal_spec import SignalSpec

    return getattr(SignalSpec.from_dict(_root_.features.spec, "features.spec"), name)


def register_resolvers() -> None:
    """`${repo_root:}` -> the checkout this package runs from, else the current directory.
    `${spec:NAME}` -> a field or derived value (n_bins, ...) of the composed `features.spec`."""
    if not OmegaConf.has_resolver("repo_root"):
        OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT))
    if not OmegaConf.has_resolver("spec"):
        OmegaConf.register_new_resolver("spec", _spec_value)


register_resolvers()


def compose(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose a primary config outside @hydra.main (tests, scripts, notebooks)."""
    from hydra import compose as _compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return _compose(config_name=config_name, overrides=list(overrides or []))
