"""A policy directory as an MLflow pyfunc model.

The tracking hook (``toolace_kedro.hooks.MlflowCatalogHook``) logs the SFT adapter and every irft
round's merged policy with :func:`log_policy_model`; the registered versions then load and answer
anywhere the project is installed::

    import mlflow
    policy = mlflow.pyfunc.load_model("models:/toolace-irft/latest")
    conversation = [{"role": "user", "content": "..."}]
    policy.predict(pd.DataFrame({"messages": [json.dumps(conversation)]}),
                   params={"max_tokens": 64})   # -> one answer per conversation

A merged policy is self-contained; an adapter is applied to its base model, the
``base_model_name_or_path`` its ``adapter_config.json`` names (an HF id, or a local directory that
must exist where the model is loaded).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow.models
import mlflow.pyfunc

__all__ = ["PARAMS", "PolicyModel", "adapter_base", "log_policy_model", "requirements", "signature"]

#: the packages a loaded policy imports, pinned to this environment's versions
_PACKAGES = ("torch", "transformers", "peft", "accelerate", "toolace-kedro")
#: the inference parameters ``predict`` takes, with their defaults (the model signature's params)
PARAMS = {"max_tokens": 256, "temperature": 0.0}


def adapter_base(directory: str | Path) -> str | None:
    """The base model of a LoRA adapter directory; ``None`` for a full (merged) model."""
    config = Path(directory) / "adapter_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("base_model_name_or_path")


def requirements() -> list[str]:
    """Pinned pip requirements of a logged policy (given, so MLflow does not infer them by
    importing the model in a subprocess)."""
    pins = []
    for package in _PACKAGES:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins


def signature():
    """The model signature: a ``messages`` text column in, one text answer out, :data:`PARAMS`."""
    import pandas as pd
    from mlflow.models import infer_signature

    example = pd.DataFrame({"messages": [json.dumps([{"role": "user", "content": "Hello"}])]})
    return infer_signature(example, ["answer"], params=PARAMS)


class PolicyModel(mlflow.pyfunc.PythonModel):
    """Greedy chat answers of the logged policy: ``predict`` takes a DataFrame with a ``messages``
    column (each the JSON text of a list of chat messages) and returns one answer string per row;
    ``params`` may set ``max_tokens`` and ``temperature`` (:data:`PARAMS`, the signature's)."""

    def load_context(self, context) -> None:
        self.policy = context.artifacts["policy"]
        self.base = (context.model_config or {}).get("base_model")

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> list[str]:
        from toolace_kedro.llm import build_llm

        rows = model_input["messages"] if hasattr(model_input, "columns") else model_input
        conversations = [json.loads(m) if isinstance(m, str) else list(m) for m in rows]
        model, adapter = (self.base, self.policy) if self.base else (self.policy, None)
        options = {**PARAMS, **(params or {})}
        llm = build_llm({"backend": "transformers", "model": model, "adapter": adapter, "progress": False,
                         "cache_dir": None, **options})
        try:
            return [answer or "" for answer in llm.chat_batch(conversations)]
        finally:
            llm.close()


def log_policy_model(directory: str | Path, name: str, registered_model_name: str | None = None,
                     tags: dict[str, str] | None = None):
    """Log ``directory`` (a merged model or a LoRA adapter) as the pyfunc model ``name`` of the
    active MLflow run, register it under ``registered_model_name`` when given, and set ``tags`` on
    the logged model and the registered version. Returns MLflow's ``ModelInfo``."""
    base = adapter_base(directory)
    info = mlflow.pyfunc.log_model(  # (models from code: this file, not a pickled object)
        name=name, python_model=__file__, artifacts={"policy": str(directory)},
        model_config={"base_model": base} if base else None, pip_requirements=requirements(), signature=signature(),
        registered_model_name=registered_model_name, tags=tags)
    if registered_model_name and info.registered_model_version is not None:
        client = mlflow.MlflowClient()
        for key, value in (tags or {}).items():
            client.set_model_version_tag(registered_model_name, str(info.registered_model_version), key, value)
    return info


mlflow.models.set_model(PolicyModel())  # what MLflow loads when it runs this file as the model's code
