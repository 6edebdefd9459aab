"""De-duplication: near-identical user requests and repeated assistant answers.

A dialog's *request* is its first user turn, its *answer* its last assistant answer. Text is
normalised (Unicode NFKC, lower case, punctuation dropped, whitespace collapsed) and cut into word
trigrams (a text of fewer than three words is one shingle). Two texts are near-identical when
the Jaccard similarity of their trigram sets reaches the threshold (``request_threshold``,
``answer_threshold``; 1.0 means identical after normalisation). Dialogs are visited in order: the
first of a group is kept, each later one is rejected with ``dedup.request`` or ``dedup.answer`` and
the index of the dialog it repeats. With ``scope: tools`` requests are compared only among dialogs
offered the same set of tool names (the same request with other candidate APIs teaches tool
selection); ``scope: global`` compares all. Answers are always compared globally.

An inverted index from trigram to the kept dialogs holding it keeps this near-linear: only
dialogs sharing a trigram are compared.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from toolace_kedro.pipelines.verification.config import DedupParams

__all__ = ["NearDuplicateIndex", "deduplicate", "shingles"]

_NON_WORD = re.compile(r"[^\w\s]+")


def shingles(text: str) -> frozenset:
    """Word trigrams of normalised ``text`` (one shingle for shorter texts; empty for none)."""
    words = _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()
    if len(words) < 3:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(zip(words, words[1:], words[2:]))


class NearDuplicateIndex:
    """Kept texts by shingle; :meth:`match` finds the most similar kept one at or over the threshold."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.postings: dict[Any, list[int]] = defaultdict(list)
        self.sizes: dict[int, int] = {}

    def match(self, grams: frozenset) -> tuple[int, float] | None:
        if not grams:
            return None
        overlap: Counter = Counter()
        for gram in grams:
            overlap.update(self.postings.get(gram, ()))
        best = None
        for key, inter in overlap.items():
            similarity = inter / (len(grams) + self.sizes[key] - inter)
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (key, similarity)
        return best

    def add(self, key: int, grams: frozenset) -> None:
        self.sizes[key] = len(grams)
        for gram in grams:
            self.postings[gram].append(key)


def _texts(sample: Any) -> tuple[str, str, frozenset]:
    """(request, answer, tool names) of a sample; empty for what a malformed sample lacks (only
    reachable with the rule layer off)."""
    messages = sample.get("messages") if isinstance(sample, dict) else None
    messages = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
    request = next((m.get("content") for m in messages if m.get("role") == "user"), "")
    answer = next((m.get("content") for m in reversed(messages)
                   if m.get("role") == "assistant" and not m.get("tool_calls")), "")
    tools = sample.get("tools") if isinstance(sample, dict) else None
    tools = tools if isinstance(tools, list) else []
    names = frozenset(str(t.get("name")) for t in tools if isinstance(t, dict))
    return (request if isinstance(request, str) else "", answer if isinstance(answer, str) else "", names)


def deduplicate(samples: list[dict[str, Any]], params: DedupParams | Mapping[str, Any]) -> list[dict[str, Any] | None]:
    """For each sample (in order) ``None`` when kept, else ``{"reason": "dedup.request" |
    "dedup.answer", "duplicate_of": index, "similarity": float}``; ``params`` is the ``dedup:`` block."""
    cfg = DedupParams.of(params)
    requests: dict[Any, NearDuplicateIndex] = {}
    answers = NearDuplicateIndex(cfg.answer_threshold)
    out: list[dict[str, Any] | None] = []
    for index, sample in enumerate(samples):
        request_text, answer_text, names = _texts(sample)
        group = names if cfg.scope == "tools" else None
        index_for_group = requests.setdefault(group, NearDuplicateIndex(cfg.request_threshold))
        request, answer = shingles(request_text), shingles(answer_text)
        found = index_for_group.match(request)
        reason = "dedup.request"
        if found is None:
            found, reason = answers.match(answer), "dedup.answer"
        if found is not None:
            out.append({"reason": reason, "duplicate_of": found[0], "similarity": round(found[1], 3)})
            continue
        index_for_group.add(index, request)
        answers.add(index, answer)
        out.append(None)
    return out
