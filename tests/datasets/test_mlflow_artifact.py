"""``VersionedArtifactDataset``: a versioned file of the run that is also an MLflow artifact."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog

VERSION = "2000-01-01T00.00.00.000Z"


def _config(tmp_path, **entry):
    return {"report": {"type": "toolace_kedro.datasets.mlflow_artifact.VersionedArtifactDataset",
                       "artifact_path": "stage", "metadata": {"kedro-viz": {"layer": "reporting"}},
                       "dataset": {"type": "json.JSONDataset", "filepath": str(tmp_path / "data" / "report.json")},
                       **entry}}


def test_the_file_is_saved_under_the_run_version_and_logged(tmp_path, mlflow_store):
    import mlflow

    catalog = DataCatalog.from_config(_config(tmp_path, versioned=True), save_version=VERSION)
    with mlflow.start_run() as run:
        catalog.save("report", {"kept": 3})
    assert (tmp_path / "data" / "report.json" / VERSION / "report.json").is_file()
    assert [a.path for a in mlflow_store.list_artifacts(run.info.run_id, "stage")] == ["stage/report.json"]
    dataset = catalog.get("report")
    assert dataset.metadata == {"kedro-viz": {"layer": "reporting"}}
    # a later session reads it back by version, like any versioned dataset of the catalog
    later = DataCatalog.from_config(_config(tmp_path, versioned=True))
    assert later.load("report", version=VERSION) == {"kept": 3} == later.load("report")


def test_unversioned_and_misplaced_versioned(tmp_path, mlflow_store):
    import mlflow

    catalog = DataCatalog.from_config(_config(tmp_path))
    with mlflow.start_run():
        catalog.save("report", {"kept": 1})
    assert (tmp_path / "data" / "report.json").is_file()
    config = _config(tmp_path)
    config["report"]["dataset"]["versioned"] = True
    with pytest.raises(Exception, match="versioned: true on the VersionedArtifactDataset entry"):
        DataCatalog.from_config(config).get("report")
