"""API keys for HTTP backends, kept out of parameters (and so out of MLflow and logs).

Order of lookup: the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``),
then the entry named by ``credentials`` in ``conf/local/credentials.yml``, which the project hook
registers here when a Kedro context is created::

    # conf/local/credentials.yml
    openai:
      api_key: sk-...

No key at all is fine for local servers (vLLM, SGLang, Ollama) that do not check one.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["register_credentials", "resolve_api_key"]

_REGISTERED: dict[str, Any] = {}


def register_credentials(credentials: dict[str, Any] | None) -> None:
    """Make Kedro's credentials available to clients built later in this process."""
    _REGISTERED.clear()
    _REGISTERED.update(credentials or {})


def resolve_api_key(api_key_env: str | None, credentials: str | None) -> str | None:
    if api_key_env and os.environ.get(api_key_env):
        return os.environ[api_key_env]
    entry = _REGISTERED.get(credentials) if credentials else None
    if isinstance(entry, dict):
        return entry.get("api_key")
    return entry if isinstance(entry, str) else None
