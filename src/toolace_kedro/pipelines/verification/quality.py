"""Data-quality measures of a dialog that a reader can check by eye, and the deterministic filters
built on them (where the 135M judges are noise):

* **grounded** -- every checked argument value of every call occurs verbatim in the user turns
  or an earlier tool result (:func:`evidence.grounding`; booleans are not checked);
* **relevant** -- the request shares a content word with the called function's name,
  description or parameter names (tool dialogs); for a non-tool dialog, it shares none with any
  shown tool (its tools really do not fit);
* **answer uses results** -- the final answer of a tool dialog repeats at least one scalar value
  of the tool results;

  a dialog of several requests (``toolcalls.exchanges``: a ``multi_turn`` dialog's follow-ups)
  must meet both in every request that calls: its request shares a word with a function it
  calls, its answer repeats a value of its own results;
* **fluent** -- no user or assistant text says one word trigram three times or more (the 135M
  model's loops, "The tool results: The tool results: ...").

Words are ``toolcalls.words.content_words``.
"""

from __future__ import annotations

from typing import Any

from toolace_kedro.pipelines.verification.evidence import grounding
from toolace_kedro.toolcalls import exchanges
from toolace_kedro.toolcalls.words import api_words, content_words

__all__ = ["MEASURES", "quality_flags"]

#: the measures, each a boolean flag per dialog (None where it does not apply)
MEASURES = ("grounded", "relevant", "answer_uses_results", "fluent")

#: a word trigram said this often in one message is a loop
LOOP_REPEATS = 3


def looping(text: str) -> bool:
    """Whether ``text`` says some word trigram :data:`LOOP_REPEATS` times or more."""
    words = text.lower().split()
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - 2):
        key = tuple(words[i: i + 3])
        counts[key] = counts.get(key, 0) + 1
        if counts[key] >= LOOP_REPEATS:
            return True
    return False


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
        relevant, uses = [], []
        for start, end in exchanges(messages):
            part = messages[start:end]
            called = {c.get("name") for m in part if m.get("role") == "assistant" for c in m.get("tool_calls") or []}
            if not called:
                continue
            words = content_words(str(part[0].get("content", ""))) if part[0].get("role") == "user" else set()
            relevant.append(any(words & api_words(tools[n]) for n in called if n in tools))
            results = [v for m in part if m.get("role") == "tool" for r in m.get("content") or []
                       for v in _scalars(r.get("results"))]
            if results:
                final = str(part[-1].get("content", "")).lower()
                uses.append(any(v in final for v in results if len(v) >= 2))
        flags["relevant"] = all(relevant)
        flags["answer_uses_results"] = all(uses) if uses else None
    elif sample.get("type") == "non_tool":
        flags["relevant"] = not any(request & api_words(t) for t in tools.values())
    flags["fluent"] = not any(looping(str(m.get("content") or "")) for m in messages
                              if m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str))
    return flags
