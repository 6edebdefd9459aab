"""Custom Kedro datasets of the project."""

from toolace_kedro.datasets.bfcl import BFCLDataset
from toolace_kedro.datasets.jsonlines import JSONLinesDataset, parse_jsonl
from toolace_kedro.datasets.model_directory import ModelDirectoryDataset

__all__ = ["BFCLDataset", "JSONLinesDataset", "ModelDirectoryDataset", "parse_jsonl"]
