"""Run a pipeline on an in-memory catalog and keep every dataset for inspection."""

from __future__ import annotations

from typing import Any

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner


class KeptMemoryDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so tests can read every intermediate."""

    def _release(self) -> None:
        pass


def run_in_memory(pipeline: Pipeline, inputs: dict[str, Any]) -> DataCatalog:
    datasets = {name: KeptMemoryDataset() for name in pipeline.datasets()}
    for name, value in inputs.items():
        datasets[name] = KeptMemoryDataset(value)
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return catalog
