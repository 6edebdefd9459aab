"""Custom Kedro datasets of the project."""

from toolace_kedro.datasets.jsonlines import JSONLinesDataset, parse_jsonl

__all__ = ["JSONLinesDataset", "parse_jsonl"]
