"""Data-quality measures of a dialog that a reader can check by eye, and the deterministic filters
built on them (where the 135M judges are noise):

* **grounded** -- every checked argument value of every call occurs verbatim in the user turns
  or an earlier tool result (:func:`evidence.grounding`; booleans are not checked);
* **relevant** -- the request shares a content word with the called function's name,
  description or parameter names (tool dialogs); for a non-tool dialog, it shares none with any
  shown tool (its tools really do not fit);
* **answer uses results** -- the final answer of a tool dialog repeats at least one scalar value
  of the tool results.

Words are lowercased ``[a-z]+`` runs of three letters or more, stop words removed, with a crude
plural strip (``flights`` ~ ``flight``).
"""

from __future__ import annotations

import re
from typing import Any

from toolace_kedro.pipelines.verification.evidence import grounding

__all__ = ["MEASURES", "content_words", "quality_flags"]

#: the measures, each a boolean flag per dialog (None where it does not apply)
MEASURES = ("grounded", "relevant", "answer_uses_results")

_WORD = re.compile(r"[a-z]{3,}")
_STOP = frozenset("""the and for with from that this what which when where who how can you your please
are was were will would could should have has had not but all any get set into about there their them they
then than also just some more most very out our its it's let me my need want like give tell find show""".split())


def content_words(text: str) -> set[str]:
    """Lowercased words of three letters or more, stop words out, a trailing ``s`` dropped."""
    words = set()
    for word in _WORD.findall(text.lower().replace("_", " ")):
        if word in _STOP:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return words


def _tool_words(tool: dict[str, Any]) -> set[str]:
    params = (tool.get("parameters") or {}).get("properties") or {}
    return content_words(" ".join([str(tool.get("name", "")).replace(".", " "), str(tool.get("description", "")),
                                   *params]))


def _scalars(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in _scalars(v)]
    if isinstance(value, bool) or value is None:
        return []
    text = str(value).strip().lower()
    return [text] if text else []


def quality_flags(sample: dict[str, Any]) -> dict[str, bool | None]:
    """``{measure: True/False/None}`` for one canonical dialog (None: not applicable)."""
    messages = sample.get("messages") or []
    calls = [c for m in messages if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
    users = [m for m in messages if m.get("role") == "user"]
    request = content_words(str(users[0].get("content", ""))) if users else set()
    tools = {t.get("name"): t for t in sample.get("tools") or [] if isinstance(t, dict)}
    flags: dict[str, bool | None] = dict.fromkeys(MEASURES)
    if calls:
        flags["grounded"] = all({"user", "results"} & set(entry["found_in"]) for entry in grounding(sample))
        called = {c.get("name") for c in calls}
        flags["relevant"] = any(request & _tool_words(tools[n]) for n in called if n in tools)
        results = [v for m in messages if m.get("role") == "tool" for r in m.get("content") or []
                   for v in _scalars(r.get("results"))]
        final = str(messages[-1].get("content", "")).lower() if messages else ""
        flags["answer_uses_results"] = any(v in final for v in results if len(v) >= 2) if results else None
    elif sample.get("type") == "non_tool":
        flags["relevant"] = not any(request & _tool_words(t) for t in tools.values())
    return flags
