"""Raw API-related documents: accept JSONL records, a DataFrame or a PartitionedDataset, and apply
the bad-input policy (empty, binary and oversized documents are skipped and counted)."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from typing import Any

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
        return raw
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


def clean_documents(raw: Any, params: dict[str, Any]) -> tuple[list[dict], dict[str, Any]]:
    """Keep usable documents; return them with a report of what was skipped and why."""
    kept, skipped = [], Counter()
    examples: list[str] = []
    for i, record in enumerate(as_records(raw)):
        doc_id = str(record.get("id") or f"doc-{i}") if isinstance(record, dict) else f"doc-{i}"
        text = record.get("text") if isinstance(record, dict) else None
        if isinstance(record, dict) and record.get("load_error"):
            problem = "unreadable"
            logger.warning("raw document %s could not be read: %s", doc_id, record["load_error"])
        else:
            problem = document_problem(text, params["min_chars"], params["max_chars"], params["max_control_ratio"])
        if problem:
            skipped[problem] += 1
            if len(examples) < 20:
                examples.append(f"{doc_id}: {problem}")
            continue
        kept.append({"id": doc_id, "text": " ".join(text.split()), "source": str(record.get("source") or doc_id)})
    if skipped:
        logger.warning("skipped %d raw documents: %s (e.g. %s)", sum(skipped.values()), dict(skipped), examples[:5])
    if not kept:
        raise ValueError(f"no usable raw document ({dict(skipped)}); check the raw_documents input")
    logger.info("kept %d raw documents", len(kept))
    return kept, {"documents_in": len(kept) + sum(skipped.values()), "documents_kept": len(kept),
                  "documents_skipped": dict(skipped), "skipped_examples": examples}
