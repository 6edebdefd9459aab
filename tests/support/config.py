"""The project's configuration as ``kedro run`` loads it (settings.py's loader arguments, so an
environment's parameters merge into base's key by key)."""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader

from toolace_kedro.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[2]


def project_config(env: str) -> OmegaConfigLoader:
    """The loader of ``conf/`` for ``env`` (``base`` alone, ``paper``, ``local``)."""
    return OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
