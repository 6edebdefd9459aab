"""``VersionedArtifactDataset``: kedro-mlflow's ``MlflowArtifactDataset`` with the Kedro run's version.

kedro-mlflow 2.0.3's ``MlflowArtifactDataset`` wraps any file dataset and logs the file it saves
as an artifact of the active MLflow run, but it cannot be versioned with the rest of the catalog:
``versioned: true`` on the wrapper is passed to a constructor that does not take a version, and
``versioned: true`` on the wrapped dataset gives it a timestamp of its own, which Kedro's catalog
refuses (all datasets of a run must share the run's save version). This subclass takes the
version the catalog hands a versioned entry and gives it to the wrapped dataset, so the file is
saved at ``<filepath>/<Kedro run id>/<name>`` like every other intermediate and the same file
is logged to MLflow. Everything else (logging, ``artifact_path``, ``run_id``, switching logging
off when tracking is disabled) is kedro-mlflow's.

Catalog example::

    evaluation_report:
      type: toolace_kedro.datasets.VersionedArtifactDataset
      versioned: true
      artifact_path: evaluation          # the folder in the MLflow run's artifacts
      dataset:
        type: text.TextDataset
        filepath: data/08_reporting/evaluation_report.md
"""

from __future__ import annotations

from typing import Any

from kedro.io.core import Version
from kedro_mlflow.io.artifacts import MlflowArtifactDataset

__all__ = ["VersionedArtifactDataset"]


class VersionedArtifactDataset(MlflowArtifactDataset):
    """``MlflowArtifactDataset`` whose wrapped dataset is versioned with the catalog's version."""

    def __new__(
        cls,
        dataset: str | dict[str, Any],
        run_id: str | None = None,
        artifact_path: str | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        version: Version | None = None,
    ):
        inner = dict(dataset) if isinstance(dataset, dict) else {"type": dataset}
        if "versioned" in inner:
            raise ValueError("set versioned: true on the VersionedArtifactDataset entry, not on its dataset")
        inner["versioned"] = version is not None
        instance = MlflowArtifactDataset.__new__(MlflowArtifactDataset, dataset=inner, run_id=run_id,
                                                 artifact_path=artifact_path, credentials=credentials,
                                                 metadata=metadata)
        if version is not None:
            instance._version = version  # the run's save version (and a pinned load version)
        return instance
