"""What the catalog's ``metadata.mlflow`` blocks log (``MlflowCatalogHook``, ``tracking.py``) and the
logged policy as a pyfunc model."""

from __future__ import annotations

import json
import logging

import pytest
from kedro.io import DataCatalog

from tests.support.fakes import ScriptedLLM
from toolace_kedro import llm
from toolace_kedro.hooks import MlflowCatalogHook
from toolace_kedro.tracking import MlflowMetadata, mlflow_metadata, records_frame

VERSION = "2000-01-01T00.00.00.000Z"


def _catalog(tmp_path) -> DataCatalog:
    def entry(kind: str, name: str, mlflow: dict) -> dict:
        return {"type": f"toolace_kedro.datasets.{kind}", "filepath": str(tmp_path / "data" / name), "versioned": True,
                "metadata": {"kedro-viz": {"layer": "x"}, "mlflow": mlflow}}

    return DataCatalog.from_config({
        "train": entry("JSONLinesDataset", "train.jsonl", {"input": "training"}),
        "predictions": entry("JSONLinesDataset", "predictions.jsonl", {"table": "evaluation/predictions.json"}),
        "policy": entry("ModelDirectoryDataset", "policy", {"registered_model": "toolace-test"}),
        "plain": {"type": "toolace_kedro.datasets.JSONLinesDataset", "filepath": str(tmp_path / "plain.jsonl")},
    }, save_version=VERSION)


def _save(hook, catalog, name, data):
    catalog.save(name, data)
    hook.after_dataset_saved(name, data, None)


def _load(hook, catalog, name):
    data = catalog.load(name)
    hook.after_dataset_loaded(name, data, None)
    return data


def test_metadata_is_validated():
    assert mlflow_metadata(type("D", (), {"metadata": {"kedro-viz": {}}})()) is None
    assert mlflow_metadata(type("D", (), {"metadata": {"mlflow": {"input": "training"}}})()).input == "training"
    with pytest.raises(ValueError, match="extra"):
        MlflowMetadata.model_validate({"registred_model": "x"})
    frame = records_frame([{"id": "a", "messages": [{"role": "user"}], "ok": True}])
    assert frame.loc[0, "messages"] == '[{"role": "user"}]' and bool(frame.loc[0, "ok"]) is True


def test_the_hook_logs_inputs_tables_and_registered_models(tmp_path, mlflow_store, tiny_model_dir, monkeypatch):
    import mlflow
    import pandas as pd

    catalog, hook = _catalog(tmp_path), MlflowCatalogHook()
    hook.before_pipeline_run({"run_id": VERSION}, None, catalog)
    rows = [{"id": "1", "source": "bfcl", "category": "simple_python", "policy": "sft", "output": "[f(a=1)]",
             "correct": True, "reason": None}]
    with mlflow.start_run() as run:
        _save(hook, catalog, "train", [{"id": "d1", "messages": [{"role": "user", "content": "hi"}]}])
        _load(hook, catalog, "train")
        _load(hook, catalog, "train")  # the same version: recorded once
        _save(hook, catalog, "predictions", rows)
        _save(hook, catalog, "policy", tiny_model_dir)
        _save(hook, catalog, "plain", [{"id": "x"}])  # no metadata.mlflow: nothing
        _load(hook, catalog, "plain")
    logged = mlflow.get_run(run.info.run_id)
    (dataset_input,) = logged.inputs.dataset_inputs
    assert dataset_input.dataset.name == "train" and VERSION in dataset_input.dataset.source
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"
    table = mlflow.load_table("evaluation/predictions.json", run_ids=[run.info.run_id])
    assert table.loc[0, "output"] == "[f(a=1)]" and list(table.columns)[:4] == ["id", "source", "category", "policy"]
    (version,) = mlflow_store.search_model_versions("name='toolace-test'")
    assert version.run_id == run.info.run_id
    assert version.tags == {"kedro_run_id": VERSION, "kedro_dataset": "policy"}
    # the registered version is a working policy
    policy = mlflow.pyfunc.load_model("models:/toolace-test/1")
    conversation = [{"role": "user", "content": "Hello"}]
    answers = policy.predict(pd.DataFrame({"messages": [json.dumps(conversation)]}), params={"max_tokens": 2})
    assert len(answers) == 1 and isinstance(answers[0], str)
    # what it asks the LLM layer: the logged directory, greedy, the signature's params passed through
    seen = []
    monkeypatch.setattr(llm, "build_llm", lambda config: seen.append(config) or ScriptedLLM(lambda *a: "[f(a=1)]"))
    assert policy.predict(pd.DataFrame({"messages": [json.dumps(conversation)]}), params={"max_tokens": 7}) \
        == ["[f(a=1)]"]
    assert seen[0]["max_tokens"] == 7 and seen[0]["temperature"] == 0.0 and seen[0]["adapter"] is None
    assert seen[0]["model"].endswith("policy") and "tiny" not in seen[0]["model"]  # the model's own copy


def test_the_hook_does_nothing_without_a_run_and_warns_on_failure(tmp_path, mlflow_store, caplog):
    import mlflow

    catalog, hook = _catalog(tmp_path), MlflowCatalogHook()
    hook.after_dataset_saved("train", [], None)  # before any pipeline: no catalog yet
    hook.before_pipeline_run({"run_id": VERSION}, None, catalog)
    _save(hook, catalog, "train", [{"id": "d1"}])
    _load(hook, catalog, "train")
    assert mlflow.active_run() is None and mlflow_store.search_runs([mlflow.get_experiment_by_name("test")
                                                                     .experiment_id]) == []
    with caplog.at_level(logging.WARNING, logger="toolace_kedro.hooks"), mlflow.start_run():
        hook.after_dataset_saved("policy", None, None)  # nothing was saved there: logging fails
    assert "could not log policy to MLflow" in caplog.text
