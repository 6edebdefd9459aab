"""Named rules that end an answer early once the rest of it cannot change how it is scored.

A request asks for one with the per-request sampling option ``stop_when`` (a name, so that it is
part of the response-cache key). The transformers backend checks the rule on the decoded text
after every generated token and stops the row when it holds; backends that cannot stop mid-answer
(openai) return the whole answer, which the same rule scores the same way.

* ``python_calls`` -- :func:`toolace_kedro.toolcalls.call_prefix.never_python_calls`: the text can
  no longer become a list of Python calls under BFCL's prompt-mode decoding (prose, code
  definitions, ...), so BFCL's verdict on it is settled (no call).
* ``tool_calls`` -- :func:`toolace_kedro.toolcalls.call_prefix.never_tool_calls`: the project's
  ``parse_calls`` (the held-out synthetic set's decoder) can no longer read calls in the text.
"""

from __future__ import annotations

from collections.abc import Callable

from toolace_kedro.toolcalls.call_prefix import never_python_calls, never_tool_calls

__all__ = ["STOP_RULES", "stop_rule"]

STOP_RULES: dict[str, Callable[[str], bool]] = {"python_calls": never_python_calls, "tool_calls": never_tool_calls}


def stop_rule(name: str | None) -> Callable[[str], bool] | None:
    """The rule called ``name`` (None for None); an unknown name is a ``ValueError``."""
    if name is None:
        return None
    if name not in STOP_RULES:
        raise ValueError(f"unknown stop_when rule {name!r}; known: {sorted(STOP_RULES)}")
    return STOP_RULES[name]
