"""Custom Kedro datasets of the project, and the record-level bad-input policy (``records``)."""

from toolace_kedro.datasets.bfcl import BFCLDataset, BFCLMultiTurnDataset
from toolace_kedro.datasets.jsonlines import JSONLinesDataset, parse_jsonl
from toolace_kedro.datasets.model_directory import ModelDirectoryDataset
from toolace_kedro.datasets.records import BadInputError, Records, locate, validate_records

__all__ = ["BFCLDataset", "BFCLMultiTurnDataset", "BadInputError", "JSONLinesDataset", "ModelDirectoryDataset", "Records", "locate",
           "parse_jsonl", "validate_records"]
