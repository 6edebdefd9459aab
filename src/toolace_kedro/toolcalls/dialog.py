"""The canonical dialog sample (`docs/data_contracts.md`) as pydantic v2 models.

Every dialog dataset holds one :class:`DialogSample` per JSON line::

    {"id": "...", "type": "single|parallel|dependent|non_tool|clarify|multi_turn",
     "tools": [<API definition>, ...],
     "messages": [{"role": "user", "content": "..."},
                  {"role": "assistant", "content": "", "thought": "...", "tool_calls": [...]},
                  {"role": "tool", "content": [{"name": "...", "results": {...}}]},
                  {"role": "assistant", "content": "final answer"}],
     "meta": {...}}

The model checks the contract: a dialog starts with a user turn and ends with an assistant
answer; roles go user → assistant (→ tool → assistant)*; an assistant turn with ``tool_calls`` is
followed by exactly one tool turn whose results name the same functions in the same order.
:func:`contract_problems` reports the same checks on a raw dict without raising;
:func:`dialog_problem` says in one line why a raw record is not a canonical dialog (the validator
the stages give ``datasets.validate_records``). :func:`exchanges` cuts a dialog into its
requests (a ``multi_turn`` dialog has one per follow-up).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolace_kedro.toolcalls.schema import ApiDefinition

__all__ = [
    "DIALOG_TYPES",
    "AssistantMessage",
    "DialogSample",
    "ToolCall",
    "ToolMessage",
    "ToolResult",
    "UserMessage",
    "contract_problems",
    "dialog_problem",
    "exchanges",
]

DIALOG_TYPES = ("single", "parallel", "dependent", "non_tool", "clarify", "multi_turn")
DialogType = Literal["single", "parallel", "dependent", "non_tool", "clarify", "multi_turn"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResult(_Strict):
    name: str = Field(min_length=1)
    results: Any


class UserMessage(_Strict):
    role: Literal["user"] = "user"
    content: str


class AssistantMessage(_Strict):
    role: Literal["assistant"] = "assistant"
    content: str = ""
    thought: str | None = Field(None, exclude_if=lambda v: v is None)
    tool_calls: list[ToolCall] | None = Field(None, exclude_if=lambda v: v is None)


class ToolMessage(_Strict):
    role: Literal["tool"] = "tool"
    content: list[ToolResult]


Message = Annotated[UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")]


class DialogSample(BaseModel):
    """One canonical dialog; construction validates the contract."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    type: DialogType
    tools: list[ApiDefinition]
    messages: list[Message] = Field(min_length=2)
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_contract(self) -> DialogSample:
        problems = contract_problems(self.to_dict())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; optional fields that are unset are left out (a ``None`` tool
        result is kept: it is data)."""
        return self.model_dump(mode="json")


def contract_problems(sample: Any) -> list[str]:
    """Ways a raw dialog dict breaks the role-order / call-result contract (never raises)."""
    if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
        return ["sample has no messages list"]
    messages = sample["messages"]
    if not messages:
        return ["dialog has no messages"]
    problems: list[str] = []
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if roles[0] != "user":
        problems.append("dialog must start with a user turn")
    if roles[-1] != "assistant":
        problems.append("dialog must end with an assistant turn")
    elif messages[-1].get("tool_calls"):
        problems.append("dialog ends with tool calls, not an answer")
    for i, (prev, cur) in enumerate(zip(roles, roles[1:]), start=1):
        allowed = {"user": {"assistant"}, "assistant": {"user", "tool"}, "tool": {"assistant"}}.get(prev, set())
        if cur not in allowed:
            problems.append(f"message {i}: role {cur!r} cannot follow {prev!r}")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        calls = msg.get("tool_calls") if msg.get("role") == "assistant" else None
        if calls:
            nxt = messages[i + 1] if i + 1 < len(messages) else None
            if not isinstance(nxt, dict) or nxt.get("role") != "tool":
                problems.append(f"message {i}: tool calls without a tool turn after them")
                continue
            call_names = [c.get("name") if isinstance(c, dict) else None for c in calls]
            results = nxt.get("content")
            result_names = [r.get("name") if isinstance(r, dict) else None for r in results] if isinstance(results, list) else None
            if result_names != call_names:
                problems.append(f"message {i + 1}: tool results {result_names} do not match calls {call_names}")
        elif msg.get("role") == "tool":
            prev_msg = messages[i - 1] if i > 0 else None
            if not isinstance(prev_msg, dict) or not prev_msg.get("tool_calls"):
                problems.append(f"message {i}: tool turn without a preceding call")
    return problems


def dialog_problem(sample: Any) -> str | None:
    """Why a raw record is not a canonical dialog -- ``"not_an_object: ..."`` or
    ``"not_canonical: <field>: <message>"`` (the first pydantic error) -- or None when
    :class:`DialogSample` accepts it."""
    if not isinstance(sample, dict):
        return f"not_an_object: a JSON {type(sample).__name__}"
    try:
        DialogSample.model_validate(sample)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(map(str, errors[0]["loc"]))
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        message = errors[0]["msg"].removeprefix("Value error, ")[:200]
        return f"not_canonical: {where + ': ' if where else ''}{message}{more}"
    return None


def exchanges(messages: list[Any]) -> list[tuple[int, int]]:
    """The ``(start, end)`` message spans of a dialog's exchanges, each a user request and what
    answers it. A user turn opens a new exchange when it is the first turn or follows an
    assistant answer given after tool results (a follow-up); a user turn after a question or a
    text reply goes on with the same exchange (a clarification)."""
    role = lambda i: messages[i].get("role") if isinstance(messages[i], dict) else None
    starts = [0] if messages else []
    for i in range(2, len(messages)):
        if role(i) == "user" and role(i - 1) == "assistant" and not messages[i - 1].get("tool_calls") \
                and role(i - 2) == "tool":
            starts.append(i)
    return list(zip(starts, starts[1:] + [len(messages)]))
