"""Converters between the canonical dialog sample and the formats models are trained on.

* **ToolACE text** (Team-ACE/ToolACE's released form, also BFCL's prompt mode):
  ``{"system": <prompt with the tool list as JSON>, "conversations": [{"from", "value"}]}``, calls
  written ``[f(a=1)]`` (or as JSON calls with ``call_format="json"``), tool turns as
  ``[{"name", "results"}]``.
* **TRL / HF conversational rows**: ``{"messages": [...], "tools": [...]}`` with OpenAI-style
  ``tool_calls`` and one ``tool`` message per result, ready for ``tokenizer.apply_chat_template``.

Both round-trip losslessly with the canonical form (whose assistant turns with ``tool_calls`` carry
an empty ``content``): fields the target format has no place for
(``id``, ``type``, ``meta``, an assistant ``thought``) travel as extra keys that consumers ignore.
With ``arrow_safe=True`` the TRL row stores schemas, arguments and meta as JSON strings, because
Arrow merges differing dicts into one struct and invents nulls.
"""

from __future__ import annotations

import json
from typing import Any

from toolace_kedro.toolcalls.dialog import exchanges
from toolace_kedro.toolcalls.parsing import ToolCallParseError, parse_calls, render_calls, render_calls_json
from toolace_kedro.toolcalls.schema import normalize_api, to_dialect

__all__ = [
    "CALL_FORMATS",
    "PROMPT_TOOL_FIELDS",
    "PROMPT_VARIANTS",
    "from_toolace",
    "from_trl",
    "render_assistant_calls",
    "system_prompt",
    "to_toolace",
    "to_trl",
    "tools_from_system_prompt",
    "training_messages",
]

CALL_FORMATS = ("python", "json")
#: the tool fields a prompt lists (BFCL's function format)
PROMPT_TOOL_FIELDS = ("name", "description", "parameters")

_INSTRUCTIONS = {
    "python": (
        "You can call functions to answer the user. Decide from the request whether one or more of "
        "the functions below are needed. When you call functions, reply with the calls only, in the "
        "form [func_name1(param1=value1, param2=value2), func_name2(param=value)], and no other "
        "text. When no function fits, or a required parameter is missing from the request, answer "
        "in plain text and say so."
    ),
    "json": (
        "You can call functions to answer the user. Decide from the request whether one or more of "
        "the functions below are needed. When you call functions, reply with the calls only, as a "
        'JSON list [{"name": "func_name", "arguments": {"param": value}}], and no other text. When '
        "no function fits, or a required parameter is missing from the request, answer in plain "
        "text and say so."
    ),
}
_TOOLS_HEADER = "Here is the list of functions, in JSON format:"


#: system-prompt wordings a dialog can be rendered in (ToolACE's format generalisation):
#: ``training`` is the project's own; the others are BFCL's prompt-mode formats as
#: ``(prompt_fmt, style)``, built from the bfcl-eval wheel's templates (``toolcalls.bfcl_prompt``),
#: with the function list as BFCL lays it out (indented JSON, the language hint on descriptions)
PROMPT_VARIANTS: dict[str, tuple[str, str] | None] = {
    "training": None,
    "bfcl": ("plaintext", "classic"),
    "bfcl_markdown": ("markdown", "classic"),
    "bfcl_experimental": ("plaintext", "experimental"),
}


def system_prompt(tools: list[dict[str, Any]], call_format: str = "python", variant: str = "training") -> str:
    """The system prompt that lists ``tools`` (in ToolACE/BFCL's dialect: ``dict``, ``float``)
    and asks for calls in ``call_format`` (``python``: ``[f(a=1)]``; ``json``: JSON calls), in
    the wording of ``variant`` (:data:`PROMPT_VARIANTS`; BFCL's wordings ask for ``python``)."""
    if call_format not in _INSTRUCTIONS:
        raise ValueError(f"call_format must be one of {CALL_FORMATS}, got {call_format!r}")
    if variant not in PROMPT_VARIANTS:
        raise ValueError(f"prompt variant must be one of {sorted(PROMPT_VARIANTS)}, got {variant!r}")
    listed = [_tool_in_dialect(t) for t in tools]
    if PROMPT_VARIANTS[variant] is None:
        return f"{_INSTRUCTIONS[call_format]}\n{_TOOLS_HEADER}\n{json.dumps(listed, ensure_ascii=False)}"
    if call_format != "python":
        raise ValueError(f"prompt variant {variant!r} (BFCL's wording) asks for python calls, not {call_format!r}")
    from toolace_kedro.toolcalls.bfcl_prompt import bfcl_system_prompt, prompt_format, with_language_hint

    return bfcl_system_prompt(with_language_hint(listed), prompt_format(*PROMPT_VARIANTS[variant]))


def _tool_in_dialect(tool: dict[str, Any]) -> dict[str, Any]:
    out = dict(tool)
    for key in ("parameters", "returns"):
        if isinstance(out.get(key), dict):
            out[key] = to_dialect(out[key])
    return out


def tools_from_system_prompt(system: str) -> list[dict[str, Any]]:
    """Find the JSON tool list inside a system prompt (ours or ToolACE's) and normalise it."""
    decoder = json.JSONDecoder()
    start = system.find("[")
    while start >= 0:
        try:
            value, _ = decoder.raw_decode(system, start)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(t, dict) and "name" in t for t in value):
            return [normalize_api(t) for t in value]
        start = system.find("[", start + 1)
    raise ValueError("no JSON list of tools found in the system prompt")


def render_assistant_calls(calls: list[dict[str, Any]], call_format: str = "python") -> str:
    """Assistant text for ``calls`` in ``call_format``."""
    if call_format == "python":
        return render_calls(calls)
    if call_format == "json":
        return render_calls_json(calls)
    raise ValueError(f"call_format must be one of {CALL_FORMATS}, got {call_format!r}")


# --------------------------------------------------------------------------- ToolACE text
def to_toolace(sample: dict[str, Any], call_format: str = "python", variant: str = "training") -> dict[str, Any]:
    """Canonical sample → ToolACE row ``{"system", "conversations", "id", "type", "meta"}``, the
    system prompt in the wording of ``variant`` (only ``training`` round-trips exactly: BFCL's
    wordings add a language hint to every description)."""
    conversations = []
    for msg in sample["messages"]:
        role = msg["role"]
        if role == "assistant" and msg.get("tool_calls"):
            turn = {"from": "assistant", "value": render_assistant_calls(msg["tool_calls"], call_format)}
        elif role == "tool":
            turn = {"from": "tool", "value": json.dumps(msg["content"], ensure_ascii=False)}
        else:
            turn = {"from": role, "value": msg.get("content", "")}
        if msg.get("thought") is not None:
            turn["thought"] = msg["thought"]
        conversations.append(turn)
    row = {"system": system_prompt(sample["tools"], call_format, variant), "conversations": conversations}
    for key in ("id", "type", "meta"):
        if key in sample:
            row[key] = sample[key]
    return row


def from_toolace(row: dict[str, Any]) -> dict[str, Any]:
    """ToolACE row (ours or Team-ACE's release) → canonical sample dict.

    An assistant value that parses as a non-empty call list becomes ``tool_calls``; anything else
    is a text answer. Rows without ``id``/``type`` get ``id`` from ``row_id`` and a type guessed
    from the calls.
    """
    messages: list[dict[str, Any]] = []
    for i, turn in enumerate(row["conversations"]):
        role = {"human": "user", "gpt": "assistant", "function": "tool"}.get(turn["from"], turn["from"])
        value = turn.get("value", "")
        if role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": value}
            calls = _calls_or_none(value)
            if calls:
                msg = {"role": "assistant", "content": "", "tool_calls": calls}
            if turn.get("thought") is not None:
                msg["thought"] = turn["thought"]
        elif role == "tool":
            try:
                results = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"conversation turn {i}: tool value is not JSON: {exc}") from None
            msg = {"role": "tool", "content": results if isinstance(results, list) else [results]}
        else:
            msg = {"role": role, "content": value}
        messages.append(msg)
    sample = {
        "id": str(row.get("id", "")),
        "type": row.get("type") or _guess_type(messages),
        "tools": tools_from_system_prompt(row["system"]),
        "messages": messages,
        "meta": row.get("meta", {}),
    }
    return sample


def _calls_or_none(text: str) -> list[dict[str, Any]] | None:
    try:
        return parse_calls(text) or None
    except ToolCallParseError:
        return None


def _guess_type(messages: list[dict[str, Any]]) -> str:
    call_turns = [m["tool_calls"] for m in messages if m.get("tool_calls")]
    if not call_turns:
        return "non_tool"
    if len(exchanges(messages)) > 1:  # a follow-up request after an answer from tool results
        return "multi_turn"
    if len(call_turns) > 1:
        return "dependent"
    return "parallel" if len(call_turns[0]) > 1 else "single"


def training_messages(sample: dict[str, Any], call_format: str = "python",
                      tool_fields: tuple[str, ...] | list[str] | None = PROMPT_TOOL_FIELDS,
                      variant: str = "training") -> list[dict[str, str]]:
    """The sample as plain chat messages in the ToolACE/BFCL prompt format: a system prompt
    listing the tools, then user / assistant / tool turns with calls written as text. This is
    what the policy is trained on and scored with (complexity, perplexity, mining, evaluation).

    Tools are listed with ``tool_fields`` only (default ``name``, ``description``, ``parameters``:
    BFCL's function format); the pipeline's provenance (``domain``, ``source``) is no part of an
    API a model should read. ``None`` keeps every field."""
    if tool_fields is not None:
        sample = {**sample, "tools": [{k: v for k, v in t.items() if k in tool_fields}
                                      for t in sample.get("tools", [])]}
    row = to_toolace(sample, call_format, variant)
    return [{"role": "system", "content": row["system"]}] + [
        {"role": turn["from"], "content": turn["value"]} for turn in row["conversations"]]


# --------------------------------------------------------------------------- TRL / HF rows
def to_trl(sample: dict[str, Any], arrow_safe: bool = False) -> dict[str, Any]:
    """Canonical sample → ``{"messages", "tools", "id", "type", "meta"}`` in HF's tool format."""
    tools = [{"type": "function", "function": dict(t)} for t in sample["tools"]]
    messages: list[dict[str, Any]] = []
    for msg in sample["messages"]:
        if msg["role"] == "tool":
            for result in msg["content"]:
                messages.append({"role": "tool", "name": result["name"],
                                 "content": json.dumps(result.get("results"), ensure_ascii=False)})
            continue
        out: dict[str, Any] = {"role": msg["role"], "content": msg.get("content", "")}
        if msg.get("tool_calls"):
            out["tool_calls"] = [
                {"type": "function", "function": {
                    "name": c["name"],
                    "arguments": json.dumps(c.get("arguments", {}), ensure_ascii=False) if arrow_safe
                    else c.get("arguments", {})}}
                for c in msg["tool_calls"]
            ]
        if msg.get("thought") is not None:
            out["thought"] = msg["thought"]
        messages.append(out)
    row: dict[str, Any] = {"messages": messages,
                           "tools": json.dumps(tools, ensure_ascii=False) if arrow_safe else tools}
    for key in ("id", "type"):
        if key in sample:
            row[key] = sample[key]
    if "meta" in sample:
        row["meta"] = json.dumps(sample["meta"], ensure_ascii=False) if arrow_safe else sample["meta"]
    return row


def from_trl(row: dict[str, Any]) -> dict[str, Any]:
    """HF/TRL row (dicts or JSON strings) → canonical sample dict; consecutive tool messages
    become one tool turn."""
    tools = _maybe_json(row.get("tools") or [])
    messages: list[dict[str, Any]] = []
    for msg in row["messages"]:
        role = msg["role"]
        if role == "tool":
            result = {"name": msg.get("name"), "results": _maybe_json(msg.get("content"), lenient=True)}
            if messages and messages[-1]["role"] == "tool":
                messages[-1]["content"].append(result)
            else:
                messages.append({"role": "tool", "content": [result]})
            continue
        out: dict[str, Any] = {"role": role, "content": msg.get("content") or ""}
        if msg.get("tool_calls"):
            out["tool_calls"] = [
                {"name": c["function"]["name"], "arguments": _maybe_json(c["function"].get("arguments") or {})}
                for c in msg["tool_calls"]
            ]
        if msg.get("thought") is not None:
            out["thought"] = msg["thought"]
        messages.append(out)
    return {
        "id": str(row.get("id", "")),
        "type": row.get("type") or _guess_type(messages),
        "tools": [normalize_api(t.get("function", t)) for t in tools],
        "messages": messages,
        "meta": _maybe_json(row.get("meta") or {}),
    }


def _maybe_json(value: Any, lenient: bool = False) -> Any:
    """Decode a JSON string (schemas, arguments, meta); with ``lenient`` a string that is not JSON
    is kept as it is (plain-text tool contents in third-party data)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            if lenient:
                return value
            raise
    return value
