"""Raw API-related documents: accept JSONL records, a DataFrame or a PartitionedDataset, and apply
the bad-input policy (unreadable, empty, binary and oversized documents are skipped and counted
with their file and line, or partition, by ``datasets.validate_records``)."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Mapping
from typing import Any

from toolace_kedro.datasets.records import validate_records
from toolace_kedro.pipelines.api_synthesis.config import DocumentParams

logger = logging.getLogger(__name__)


def as_records(raw: Any) -> list[dict[str, Any]]:
    """JSONL records (list of dicts), a pandas DataFrame (Parquet) or a PartitionedDataset's
    ``{partition_id: load_function}`` mapping → list of ``{"id", "text", "source"}``."""
    if hasattr(raw, "to_dict") and hasattr(raw, "columns"):
        if "text" not in raw.columns:
            raise ValueError(f"raw_documents has no 'text' column (columns: {list(raw.columns)})")
        return raw.to_dict(orient="records")
    if isinstance(raw, dict):
        records = []
        for partition, load in sorted(raw.items()):
            try:
                content = load() if callable(load) else load
            except Exception as exc:  # noqa: BLE001 -- any dataset error: skip that file, name it
                records.append({"id": partition, "text": None, "load_error": str(exc).splitlines()[-1][:200]})
                continue
            if isinstance(content, bytes):
                content = content.decode("utf-8", errors="replace")
            records.append({"id": partition, "text": content, "source": partition})
        return records
    if isinstance(raw, list):
        return raw  # (a loader's Records keeps its file and line numbers)
    raise ValueError(f"raw_documents must be records, a DataFrame or partitions, got {type(raw).__name__}")


def document_problem(text: Any, min_chars: int, max_chars: int, max_control_ratio: float) -> str | None:
    """Why a document is unusable (``empty``, ``not_text``, ``binary``, ``too_short``, ``too_long``),
    or None. (A partition that cannot be read at all is ``unreadable``.)"""
    if not isinstance(text, str):
        return "not_text"
    stripped = text.strip()
    if not stripped:
        return "empty"
    bad = sum(1 for ch in stripped if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\n\r\t"))
    if bad / len(stripped) > max_control_ratio:
        return "binary"
    if len(stripped) < min_chars:
        return "too_short"
    if len(stripped) > max_chars:
        return "too_long"
    return None


def clean_documents(raw: Any, params: DocumentParams | Mapping[str, Any]) -> tuple[list[dict], dict[str, Any]]:
    """Keep usable documents; return them with a report of what was skipped, why and where
    (``skipped_input``). No usable document at all is an error naming the input."""
    cfg = DocumentParams.of(params)
    records = as_records(raw)

    def problem(record: Any) -> str | None:
        if not isinstance(record, dict):
            return f"not_text: a record that is a {type(record).__name__}"
        if record.get("load_error"):
            return f"unreadable: {record['load_error']}"
        return document_problem(record.get("text"), cfg.min_chars, cfg.max_chars, cfg.max_control_ratio)

    position = {id(record): i for i, record in enumerate(records)}  # stable default ids: doc-<input index>
    usable, skipped = validate_records(records, problem, "raw_documents")
    kept = []
    for record in usable:
        doc_id = str(record.get("id") or f"doc-{position[id(record)]}")
        kept.append({"id": doc_id, "text": " ".join(record["text"].split()),
                     "source": str(record.get("source") or doc_id)})
    logger.info("kept %d raw documents", len(kept))
    return kept, {"documents_in": skipped["records"], "documents_kept": len(kept),
                  "documents_skipped": skipped["by_reason"], "skipped_input": {"raw_documents": skipped}}
