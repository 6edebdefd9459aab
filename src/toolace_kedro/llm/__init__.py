"""One small LLM client interface; backends ``transformers`` (in-process) and ``openai`` (HTTP).

>>> llm = build_llm({"backend": "transformers", "model": "smollm2-135m-instruct"})  # doctest: +SKIP
>>> llm.chat_batch([[{"role": "user", "content": "Hi"}]], max_tokens=16)             # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from toolace_kedro.llm.base import WAIT, Completion, LLMBatchError, LLMClient, LLMConfig, Usage
from toolace_kedro.llm.response_cache import ResponseCache
from toolace_kedro.llm.resume_shards import ShardCheckpoints, ShardFailureError
from toolace_kedro.llm.credentials import register_credentials

__all__ = [
    "WAIT",
    "Completion",
    "LLMBatchError",
    "LLMClient",
    "LLMConfig",
    "ResponseCache",
    "ShardCheckpoints",
    "ShardFailureError",
    "Usage",
    "build_llm",
    "register_credentials",
]


def build_llm(config: dict[str, Any] | LLMConfig) -> LLMClient:
    """Validate ``config`` (unknown keys are an error) and build the client for its backend."""
    cfg = config if isinstance(config, LLMConfig) else LLMConfig.model_validate(config or {})
    if cfg.backend == "transformers":
        from toolace_kedro.llm.transformers_backend import TransformersClient

        return TransformersClient(cfg)
    from toolace_kedro.llm.openai_backend import OpenAIClient

    return OpenAIClient(cfg)
