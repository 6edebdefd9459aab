"""Reading and writing function calls as models emit them.

Two textual forms are understood:

* the ToolACE / BFCL prompt form ``[f(a=1, b="x"), Market Trends API(region="EU")]`` -- the
  brackets are optional, function names may contain spaces, dots and dashes, and every argument
  value must be a *literal* (strings, numbers, booleans, ``None``/``null``, lists, tuples, dicts);
* JSON: ``[{"name": ..., "arguments": {...}}]``, a single such object, ``arguments`` given as a
  dict or as a JSON string, ``parameters`` accepted for ``arguments``, and the OpenAI wrapper
  ``{"type": "function", "function": {...}}``.

Model output is data. Nothing here calls ``eval``/``exec`` or builds code objects from it: a small
scanner finds the call names and the extent of every argument value, and each value is read with
``ast.literal_eval`` (literals only) or ``json.loads``. Hostile input -- deep nesting, megabytes,
thousands of calls -- ends in a :class:`ToolCallParseError` or a result in linear time.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

__all__ = ["CALL_NAME", "ToolCallParseError", "parse_calls", "render_calls", "render_calls_json"]

#: Longest text accepted (characters). Larger input is refused without being scanned.
MAX_INPUT_CHARS = 4_000_000
#: Deepest bracket nesting accepted inside one argument value.
MAX_NESTING = 64

_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n?(.*?)\n?```\s*$", re.DOTALL)
#: a call's function name (words, spaces, ``.:/-``); ``call_prefix`` reads names with it too
CALL_NAME = re.compile(r"[A-Za-z_][\w .:/-]*")
_KEY = re.compile(r"[A-Za-z_$][\w .$-]*")
_OPEN = "([{"
_CLOSE = {")": "(", "]": "[", "}": "{"}
_JSON_WORDS = {"true": True, "false": False, "null": None}


class ToolCallParseError(ValueError):
    """The text is not a well-formed list of function calls."""


def parse_calls(text: str) -> list[dict[str, Any]]:
    """Parse model output into ``[{"name": str, "arguments": dict}, ...]``.

    An empty string or an empty list (``[]``) gives ``[]``. Prose (a refusal, a clarifying
    question), positional arguments, non-literal values and malformed text raise
    :class:`ToolCallParseError`.
    """
    if not isinstance(text, str):
        raise ToolCallParseError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise ToolCallParseError(f"input of {len(text)} characters exceeds {MAX_INPUT_CHARS}")
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body or re.fullmatch(r"\[\s*\]", body):
        return []
    if body[0] == "{" or re.match(r"\[\s*\{", body):
        return _parse_json_calls(body)
    return _CallScanner(body).parse()


# --------------------------------------------------------------------------- JSON form
def _parse_json_calls(body: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ToolCallParseError(f"invalid JSON calls: {exc}") from None
    items = data if isinstance(data, list) else [data]
    return [_json_call(item, i) for i, item in enumerate(items)]


def _json_call(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ToolCallParseError(f"call #{index} is a {type(item).__name__}, not an object")
    if isinstance(item.get("function"), dict):  # OpenAI {"type": "function", "function": {...}}
        item = item["function"]
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ToolCallParseError(f"call #{index} has no string 'name'")
    args = item.get("arguments", item.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise ToolCallParseError(f"call #{index} ({name}): arguments are not JSON: {exc}") from None
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ToolCallParseError(f"call #{index} ({name}): arguments must be an object")
    return {"name": name.strip(), "arguments": args}


# --------------------------------------------------------------------------- call form
class _CallScanner:
    """Single-pass scanner over ``[name(key=value, ...), ...]``."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def error(self, message: str) -> ToolCallParseError:
        snippet = self.s[self.i : self.i + 40].replace("\n", " ")
        return ToolCallParseError(f"{message} at offset {self.i} (near {snippet!r})")

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self) -> list[dict[str, Any]]:
        self.skip_ws()
        bracketed = self.peek() == "["
        if bracketed:
            self.i += 1
        calls: list[dict[str, Any]] = []
        while True:
            self.skip_ws()
            if bracketed and self.peek() == "]" and not calls:
                break
            calls.append(self.call())
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1
                continue
            break
        self.skip_ws()
        if bracketed:
            if self.peek() != "]":
                raise self.error("expected ',' or ']' after a call")
            self.i += 1
            self.skip_ws()
        if self.i != len(self.s):
            raise self.error("unexpected text after the calls")
        return calls

    def call(self) -> dict[str, Any]:
        match = CALL_NAME.match(self.s, self.i)
        if not match:
            raise self.error("expected a function name")
        end = match.end()
        if end >= len(self.s) or self.s[end] != "(":
            raise self.error("expected '(' after a function name")
        name = " ".join(match.group(0).split())
        self.i = end + 1
        arguments: dict[str, Any] = {}
        self.skip_ws()
        if self.peek() == ")":
            self.i += 1
            return {"name": name, "arguments": arguments}
        while True:
            self.skip_ws()
            key = self.key()
            if key in arguments:
                raise self.error(f"argument {key!r} given twice in {name}")
            arguments[key] = self.value()
            self.skip_ws()
            sep = self.peek()
            self.i += 1
            if sep == ")":
                return {"name": name, "arguments": arguments}
            if sep != ",":
                self.i -= 1
                raise self.error(f"expected ',' or ')' in the arguments of {name}")
            self.skip_ws()
            if self.peek() == ")":  # trailing comma
                self.i += 1
                return {"name": name, "arguments": arguments}

    def key(self) -> str:
        match = _KEY.match(self.s, self.i)
        if not match:
            raise self.error("expected an argument name (positional arguments are not supported)")
        self.i = match.end()
        self.skip_ws()
        if self.peek() != "=":
            raise self.error("expected '=' after an argument name (positional arguments are not supported)")
        self.i += 1
        return match.group(0).strip()

    def value(self) -> Any:
        """Find the extent of one value (up to ',' or ')' at depth 0) and read it as a literal."""
        start = self.i
        stack: list[str] = []
        s, n = self.s, len(self.s)
        i = start
        while i < n:
            c = s[i]
            if c in "\"'":
                i = _skip_string(s, i)
                if i < 0:
                    self.i = start
                    raise self.error("unterminated string")
                continue
            if c in _OPEN:
                stack.append(c)
                if len(stack) > MAX_NESTING:
                    self.i = i
                    raise self.error(f"values nested deeper than {MAX_NESTING}")
            elif c in _CLOSE:
                if not stack:
                    if c == ")":
                        break
                    self.i = i
                    raise self.error(f"unbalanced {c!r}")
                if stack.pop() != _CLOSE[c]:
                    self.i = i
                    raise self.error(f"mismatched {c!r}")
            elif c == "," and not stack:
                break
            i += 1
        else:
            self.i = start
            raise self.error("unterminated argument list")
        self.i = i
        raw = s[start:i].strip()
        if not raw:
            self.i = start
            raise self.error("missing argument value")
        try:
            return _read_literal(raw)
        except ToolCallParseError as exc:
            self.i = start
            raise self.error(str(exc)) from None


def _skip_string(s: str, i: int) -> int:
    """Return the index just past the string literal starting at ``s[i]``, or -1."""
    quote = s[i]
    if s.startswith(quote * 3, i):
        end = s.find(quote * 3, i + 3)
        while end > 0 and _escaped(s, end):
            end = s.find(quote * 3, end + 1)
        return -1 if end < 0 else end + 3
    j = i + 1
    n = len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == quote:
            return j + 1
        if c == "\n":
            return -1
        j += 1
    return -1


def _escaped(s: str, pos: int) -> bool:
    backslashes = 0
    while pos - 1 - backslashes >= 0 and s[pos - 1 - backslashes] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _read_literal(raw: str) -> Any:
    if raw in _JSON_WORDS:
        return _JSON_WORDS[raw]
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            raise ToolCallParseError(f"argument value {raw[:60]!r} is not a literal") from None
    return _to_json_value(value)


def _to_json_value(value: Any) -> Any:
    """Tuples become lists; sets, bytes, complex numbers and non-string keys are refused."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolCallParseError("non-finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ToolCallParseError(f"dict key {k!r} is not a string")
            out[k] = _to_json_value(v)
        return out
    raise ToolCallParseError(f"unsupported literal of type {type(value).__name__}")


# --------------------------------------------------------------------------- rendering
def render_calls(calls: list[dict[str, Any]]) -> str:
    """Render calls in the prompt form ``[f(a=1, b="x")]``; the inverse of :func:`parse_calls`."""
    return "[" + ", ".join(_render_call(c) for c in calls) + "]"


def render_calls_json(calls: list[dict[str, Any]]) -> str:
    """Render calls as a JSON list of ``{"name", "arguments"}`` objects."""
    return json.dumps(
        [{"name": c["name"], "arguments": c.get("arguments") or {}} for c in calls], ensure_ascii=False
    )


def _render_call(call: dict[str, Any]) -> str:
    name = call["name"]
    if not CALL_NAME.fullmatch(name) or name != " ".join(name.split()):
        raise ValueError(f"function name {name!r} cannot be rendered in the call form")
    args = call.get("arguments") or {}
    parts = []
    for key, value in args.items():
        if not _KEY.fullmatch(key) or key != key.strip():
            raise ValueError(f"argument name {key!r} of {name} cannot be rendered in the call form")
        parts.append(f"{key}={_render_value(value)}")
    return f"{name}({', '.join(parts)})"


def _render_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite numbers cannot be rendered as literals")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_render_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"dict key {k!r} is not a string")
            items.append(f"{json.dumps(k, ensure_ascii=False)}: {_render_value(v)}")
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"cannot render a value of type {type(value).__name__}")
