"""ToolACE's rule layer (Dual-Layer Verification, paper Table 4): deterministic checks of one
canonical dialog sample (`docs/data_contracts.md`). :func:`check_sample` returns the ids of the rules a
sample breaks, in the order of :data:`RULE_IDS` (``[]``: it passes); :func:`sample_problems`
gives every finding with a message. Neither raises, whatever the input.

API definition clarity
  ``api.missing_field``   a tool is not an object, or lacks ``name``/``description``/``parameters``.
  ``api.schema_invalid``  a tool's ``parameters``/``returns`` break the JSON-Schema meta-schema (after
                          ToolACE's ``dict``/``float`` aliases are normalised), ``parameters`` is not
                          an object schema, an array (or ``tuple``) in ``parameters`` declares no
                          item type (no ``items``/``prefixItems``, at any depth; ``returns`` may),
                          ``required`` names an undeclared parameter, the name is not a function
                          name, or two tools share a name.
Function-calling executability (see ``executability.py``; values judged by ``jsonschema``)
  ``call.unknown_function``  a call names no tool of the list (or has no name).
  ``call.missing_required``  a required argument is missing, at any depth.
  ``call.unknown_argument``  an argument the schema does not declare, at any depth.
  ``call.type_mismatch``     a value of another type (an integer is a valid number).
  ``call.value_invalid``     outside enum/const, pattern, format (date, date-time, email...), bounds.
Dialog correctness
  ``dialog.missing_field``   the sample or a turn lacks a field or has one of the wrong type: ``id``,
                             ``type`` (one of the six types), ``tools`` (a list), ``messages`` (a
                             list), ``meta`` (an object when present), each turn's ``role`` and
                             text ``content``, an empty user turn, a tool turn's list of
                             ``{"name", "results"}``.
  ``dialog.too_long``        an assistant answer longer than ``max_answer_chars``.
  ``dialog.invalid_chars``   control characters (but tab/newline/CR), U+FFFD, lone surrogates or
                             U+FFFE/U+FFFF in any text, argument or result string.
  ``dialog.mixed_language``  more than ``mixed_language_threshold`` of the words of the user turns and
                             answers are outside the dialog's main script (``language.py``).
  ``dialog.incomplete``      no messages, an empty assistant answer, or the dialog does not end
                             with a non-empty assistant answer (it ends on a user turn, a tool turn
                             or calls).
Sample consistency
  ``consistency.name_mismatch``   a tool turn's result names differ from the preceding calls' names
                                  (same functions, same count, same order).
  ``consistency.format_conflict`` the turns break the call format the system prompt asks for
                                  (``toolcalls.system_prompt``: calls only, no other text; otherwise
                                  plain text), as the canonical form encodes it: (a) a turn with
                                  ``tool_calls`` and non-blank ``content``; (b) an answer whose text
                                  is itself calls (``parse_calls`` reads a non-empty call list from
                                  it: ``[f(a=1)]`` or JSON calls) while ``tool_calls`` is empty;
                                  (c) calls not in the structured form: ``tool_calls`` not a list, a
                                  call that is not an object, ``arguments`` not an object (e.g. a
                                  JSON string); (d) fields the canonical format has no place for
                                  (OpenAI's ``function_call``, ``tool_call_id``...), on a turn, a
                                  call, a result or the sample.
  ``consistency.role_order``      the first turn is not the user's, a user turn follows a user or
                                  tool turn, or an answer follows an answer.
  ``consistency.tool_without_call``  a tool turn not right after an assistant turn with calls.
  ``consistency.call_without_result`` an assistant turn with calls not right before a tool turn.

A turn that is broken (not an object, no known role) is reported once as ``dialog.missing_field``
and the order checks restart after it, so one defect is not reported under several ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from toolace_kedro.pipelines.verification.config import RuleParams
from toolace_kedro.pipelines.verification.executability import ToolEntry, argument_problems, tool_entry
from toolace_kedro.pipelines.verification.language import INVALID_CHARS, foreign_share
from toolace_kedro.toolcalls import DIALOG_TYPES, ToolCallParseError, parse_calls

__all__ = ["RULE_IDS", "check_sample", "sample_problems"]

logger = logging.getLogger(__name__)

RULE_IDS = (
    "api.schema_invalid", "api.missing_field",
    "call.unknown_function", "call.missing_required", "call.unknown_argument", "call.type_mismatch",
    "call.value_invalid",
    "dialog.missing_field", "dialog.too_long", "dialog.invalid_chars", "dialog.mixed_language", "dialog.incomplete",
    "consistency.name_mismatch", "consistency.format_conflict", "consistency.role_order",
    "consistency.tool_without_call", "consistency.call_without_result",
)
_DEFAULTS = RuleParams()
_SAMPLE_KEYS = {"id", "type", "tools", "messages", "meta"}
_TURN_KEYS = {"user": {"role", "content"}, "assistant": {"role", "content", "thought", "tool_calls"},
              "tool": {"role", "content"}}
#: text that might be calls: a fence, a bracket or brace, or ``name(`` at the start
_CALL_LIKE = re.compile(r"\s*(?:```|\[|\{|[A-Za-z_][\w .:/-]*\()")
Problems = list[tuple[str, str]]


def check_sample(sample: Any, params: RuleParams | Mapping[str, Any] | None = None) -> list[str]:
    """Rule ids ``sample`` breaks (see the module docstring), in :data:`RULE_IDS` order."""
    found = {rule for rule, _ in sample_problems(sample, params)}
    return [rule for rule in RULE_IDS if rule in found]


def sample_problems(sample: Any, params: RuleParams | Mapping[str, Any] | None = None) -> Problems:
    """Every ``(rule id, message)`` finding for ``sample`` under ``params`` (the ``rules:`` block;
    keys it lacks take :class:`RuleParams`' defaults)."""
    cfg = _DEFAULTS if params is None else RuleParams.of(params)
    out: Problems = []
    try:
        _check(sample, cfg, out)
    except Exception as exc:  # a rule bug must not stop a run over thousands of samples
        logger.warning("rule layer failed on a sample (%s: %s); it is rejected", type(exc).__name__, exc)
        out.append(("dialog.missing_field", f"unreadable sample ({type(exc).__name__})"))
    return out


def _check(sample: Any, cfg: RuleParams, out: Problems) -> None:
    if not isinstance(sample, dict):
        out.append(("dialog.missing_field", f"sample is a {type(sample).__name__}, not an object"))
        return
    _check_fields(sample, out)
    tools = _check_tools(sample.get("tools"), cfg.closed_objects, out)
    messages = sample.get("messages")
    if isinstance(messages, list):
        _check_messages(messages, tools, cfg, out)


def _check_fields(sample: dict, out: Problems) -> None:
    if not isinstance(sample.get("id"), str) or not sample["id"]:
        out.append(("dialog.missing_field", "sample has no id"))
    if sample.get("type") not in DIALOG_TYPES:
        out.append(("dialog.missing_field", f"type {sample.get('type')!r} is not one of {DIALOG_TYPES}"))
    for key in ("tools", "messages"):
        if not isinstance(sample.get(key), list):
            out.append(("dialog.missing_field", f"sample has no {key} list"))
    if "meta" in sample and not isinstance(sample["meta"], dict):
        out.append(("dialog.missing_field", "meta is not an object"))
    extra = sample.keys() - _SAMPLE_KEYS
    if extra:
        out.append(("consistency.format_conflict", f"sample fields outside the format: {sorted(map(str, extra))}"))


def _check_tools(tools: Any, closed: bool, out: Problems) -> dict[str, Any] | None:
    """Name → tool entry (``None`` when the tools list itself is missing)."""
    if not isinstance(tools, list):
        return None
    by_name: dict[str, Any] = {}
    for i, api in enumerate(tools):
        entry = tool_entry(api, closed)
        out.extend((rule, f"tool {i}: {message}") for rule, message in entry.problems)
        if entry.name is not None:
            if entry.name in by_name:  # ambiguous: its calls cannot be checked against one schema
                out.append(("api.schema_invalid", f"tool {i}: the name {entry.name!r} is listed twice"))
                entry = ToolEntry(entry.name, (), None, None)
            by_name[entry.name] = entry
    return by_name


def _check_messages(messages: list, tools: dict | None, cfg: RuleParams, out: Problems) -> None:
    if not messages:
        out.append(("dialog.incomplete", "dialog has no messages"))
        return
    texts: list[str] = []  # user turns and answers, for the language check
    prev: str | None = "start"  # role of the previous turn ("assistant+calls" after calls), None after a broken one
    calls: list = []
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if not isinstance(role, str) or role not in _TURN_KEYS:
            what = f"role {role!r}" if isinstance(msg, dict) else f"a {type(msg).__name__}"
            out.append(("dialog.missing_field", f"message {i} is {what}, not a user/assistant/tool turn"))
            prev = None
            continue
        extra = msg.keys() - _TURN_KEYS[role]
        if extra:
            out.append(("consistency.format_conflict",
                        f"message {i}: fields outside the format {sorted(map(str, extra))}"))
        if prev == "assistant+calls" and role != "tool":
            out.append(("consistency.call_without_result", f"message {i - 1}: calls without a tool turn after them"))
        elif prev == "start" and role != "user":
            out.append(("consistency.role_order", "the dialog does not start with a user turn"))
        if role == "user":
            if prev in ("user", "tool"):
                out.append(("consistency.role_order", f"message {i}: a user turn after a {prev} turn"))
            content = msg.get("content")
            if not isinstance(content, str) or not content.strip():
                out.append(("dialog.missing_field", f"message {i}: user turn without text"))
            else:
                texts.append(content)
                _check_chars(content, i, out)
            prev = "user"
        elif role == "assistant":
            if prev == "assistant":
                out.append(("consistency.role_order", f"message {i}: an answer right after an answer"))
            calls = _check_assistant(msg, i, tools, cfg, texts, out)
            prev = "assistant+calls" if calls else "assistant"
        else:
            if prev != "assistant+calls" and prev is not None:
                out.append(("consistency.tool_without_call", f"message {i}: tool turn without a preceding call"))
            _check_tool_turn(msg, i, calls if prev == "assistant+calls" else None, out)
            prev = "tool"
    last = messages[-1]
    if prev == "assistant+calls":
        out.append(("consistency.call_without_result", "the dialog ends with calls"))
    if not (isinstance(last, dict) and last.get("role") == "assistant" and prev == "assistant"
            and isinstance(last.get("content"), str) and last["content"].strip()):
        out.append(("dialog.incomplete", "the dialog does not end with an assistant answer"))
    share, main = foreign_share(texts)
    if share > cfg.mixed_language_threshold:
        out.append(("dialog.mixed_language", f"{share:.0%} of the words are not in the main script {main}"))


def _check_assistant(msg: dict, i: int, tools: dict | None, cfg: RuleParams, texts: list[str],
                     out: Problems) -> list:
    """Checks one assistant turn; returns its calls (``[]`` for an answer)."""
    content = msg.get("content", "")
    thought = msg.get("thought")
    calls = msg.get("tool_calls")
    if not isinstance(content, str):
        out.append(("dialog.missing_field", f"message {i}: assistant content is a {type(content).__name__}"))
        content = ""
    if thought is not None:
        if isinstance(thought, str):
            _check_chars(thought, i, out)
        else:
            out.append(("dialog.missing_field", f"message {i}: thought is a {type(thought).__name__}"))
    if calls is not None and not isinstance(calls, list):
        out.append(("consistency.format_conflict", f"message {i}: tool_calls is a {type(calls).__name__}, not a list"))
        calls = [calls]  # still a call turn: its result turn is not a tool turn without calls
    if calls:
        if content.strip():
            out.append(("consistency.format_conflict", f"message {i}: text beside the calls"))
        for j, call in enumerate(calls):
            _check_call(call, f"message {i} call {j}", tools, out)
        return calls
    if "content" not in msg:
        out.append(("dialog.missing_field", f"message {i}: answer without content"))
    elif not content.strip():
        out.append(("dialog.incomplete", f"message {i}: empty answer"))
    else:
        texts.append(content)
        _check_chars(content, i, out)
        if len(content) > cfg.max_answer_chars:
            out.append(("dialog.too_long", f"message {i}: answer of {len(content)} characters"))
        if _CALL_LIKE.match(content) and _reads_as_calls(content):
            out.append(("consistency.format_conflict", f"message {i}: calls written as text"))
    return []


def _reads_as_calls(text: str) -> bool:
    try:
        return bool(parse_calls(text))
    except (ToolCallParseError, RecursionError):
        return False


def _check_call(call: Any, where: str, tools: dict | None, out: Problems) -> None:
    if not isinstance(call, dict):
        out.append(("consistency.format_conflict", f"{where}: a {type(call).__name__}, not a call object"))
        return
    if call.keys() - {"name", "arguments"}:
        out.append(("consistency.format_conflict", f"{where}: fields outside the format {sorted(map(str, call))}"))
    name, arguments = call.get("name"), call.get("arguments", {})
    if not isinstance(arguments, dict):
        out.append(("consistency.format_conflict",
                    f"{where}: arguments are a {type(arguments).__name__}, not an object"))
        arguments = None
    else:
        _check_value_chars(arguments, where, out)
    if tools is None:
        return  # no tool list: reported as dialog.missing_field
    entry = tools.get(name) if isinstance(name, str) else None
    if entry is None:
        out.append(("call.unknown_function", f"{where}: {name!r} is not in the tool list"))
    elif entry.schema is not None and arguments is not None:  # (a broken API is reported as api.*)
        out.extend((rule, f"{where}: {message}") for rule, message in argument_problems(entry, arguments))


def _check_tool_turn(msg: dict, i: int, calls: list | None, out: Problems) -> None:
    results = msg.get("content")
    if not isinstance(results, list):
        out.append(("dialog.missing_field", f"message {i}: tool content is not a list of results"))
        return
    names = []
    for j, result in enumerate(results):
        if not isinstance(result, dict) or not isinstance(result.get("name"), str) or "results" not in result:
            out.append(("dialog.missing_field", f"message {i} result {j}: not a {{name, results}} object"))
            names.append(result.get("name") if isinstance(result, dict) else None)
            continue
        if result.keys() - {"name", "results"}:
            out.append(("consistency.format_conflict", f"message {i} result {j}: fields outside the format"))
        names.append(result["name"])
        _check_value_chars(result["results"], f"message {i} result {j}", out)
    if calls is not None:
        call_names = [c.get("name") if isinstance(c, dict) else None for c in calls]
        if names != call_names:
            out.append(("consistency.name_mismatch", f"message {i}: results {names} for calls {call_names}"))


def _check_chars(text: str, i: int, out: Problems) -> None:
    found = INVALID_CHARS.search(text)
    if found:
        out.append(("dialog.invalid_chars", f"message {i}: invalid character U+{ord(found.group()):04X}"))


def _check_value_chars(value: Any, where: str, out: Problems) -> None:
    """Invalid characters in any string (key or value) of a nested argument/result value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = INVALID_CHARS.search(item)
            if found:
                out.append(("dialog.invalid_chars", f"{where}: invalid character U+{ord(found.group()):04X}"))
                return
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
