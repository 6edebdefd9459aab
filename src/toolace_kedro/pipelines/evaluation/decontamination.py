"""Word n-gram overlap between the synthetic training dialogs and the BFCL questions.

Text is lowercased and split into word tokens (``\\w+``, so punctuation separates words); n-grams
never span two messages. Each training n-gram is stored as the hash of its token tuple in one set
(memory ~ number of distinct n-grams; a lookup per BFCL n-gram), so the cost is linear in the text.

``n`` defaults to 8: decontamination of long documents uses 13-grams (GPT-3), but BFCL questions are
short -- a median of 8 to 17 words in every single-call category -- and 8-grams are the common
choice for short items (PaLM's contamination analysis flags an item when at least 70 % of its
8-grams occur in the training data: the default ``threshold`` here). Items with fewer than ``n``
words have no n-gram; they are counted as ``too_short`` and never as overlapping.

Per BFCL category the report gives the number of items, those too short to have an n-gram, the
fraction of items with *any* n-gram found in the training user turns, the fraction at or above
``threshold``, the mean and the maximum per-item overlap (overlapping n-grams / the item's
n-grams), and the most overlapping item ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_N", "contamination_report", "ngram_hashes", "training_user_texts", "bfcl_user_texts", "words"]

DEFAULT_N = 8
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngram_hashes(text: str, n: int = DEFAULT_N) -> set[int]:
    """Hashes of the word n-grams of one text (empty when it has fewer than ``n`` words)."""
    tokens = words(text)
    return {hash(tuple(tokens[i:i + n])) for i in range(len(tokens) - n + 1)}


def training_user_texts(dialogs: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """The user turns of canonical dialogs."""
    for dialog in dialogs:
        for message in dialog.get("messages") or []:
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                yield message["content"]


def bfcl_user_texts(entry: Mapping[str, Any]) -> list[str]:
    """The user messages of a BFCL entry (``question`` is a list of turns, each a list of messages)."""
    texts = []
    for turn in entry.get("question") or []:
        for message in turn if isinstance(turn, list) else [turn]:
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                texts.append(message["content"])
    return texts


def contamination_report(dialogs: Iterable[Mapping[str, Any]], bfcl: Mapping[str, list[Mapping[str, Any]]],
                         n: int = DEFAULT_N, threshold: float = 0.7, top: int = 5) -> dict[str, Any]:
    """Overlap of BFCL questions (``{category: entries}``) with the training dialogs' user turns."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    seen: set[int] = set()
    training_texts = 0
    for text in training_user_texts(dialogs):
        seen |= ngram_hashes(text, n)
        training_texts += 1
    report: dict[str, Any] = {"n": n, "threshold": threshold, "training_user_turns": training_texts,
                              "training_ngrams": len(seen), "categories": {}}
    totals = {"items": 0, "any": 0, "over": 0}
    for category, entries in bfcl.items():
        overlaps, short = [], 0
        for entry in entries:
            grams: set[int] = set()
            for text in bfcl_user_texts(entry):
                grams |= ngram_hashes(text, n)
            if not grams:
                short += 1
                continue
            overlaps.append((len(grams & seen) / len(grams), entry.get("id")))
        items = len(entries)
        any_overlap = sum(1 for o, _ in overlaps if o > 0)
        over = sum(1 for o, _ in overlaps if o >= threshold)
        report["categories"][category] = {
            "items": items, "too_short": short,
            "any_overlap_fraction": any_overlap / items if items else 0.0,
            "over_threshold_fraction": over / items if items else 0.0,
            "mean_overlap": sum(o for o, _ in overlaps) / len(overlaps) if overlaps else 0.0,
            "max_overlap": max((o for o, _ in overlaps), default=0.0),
            "most_overlapping": [{"id": i, "overlap": round(o, 4)} for o, i in sorted(overlaps, reverse=True,
                                 key=lambda x: x[0])[:top] if o > 0],
        }
        totals["items"] += items
        totals["any"] += any_overlap
        totals["over"] += over
        logger.info("decontamination %s: %d/%d items share a %d-gram with the training data", category,
                    any_overlap, items, n)
    report["overall"] = {"items": totals["items"],
                         "any_overlap_fraction": totals["any"] / totals["items"] if totals["items"] else 0.0,
                         "over_threshold_fraction": totals["over"] / totals["items"] if totals["items"] else 0.0}
    return report
