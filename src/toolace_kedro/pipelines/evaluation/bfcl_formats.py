"""BFCL's prompt-mode decoding in the return formats of ``format_sensitivity``, verdict for verdict.

A format-sensitivity item names its prompt format in its id (``ret_fmt`` python, json,
verbose_xml or concise_xml; ``tool_call_tag`` True/False); bfcl-eval 2026.3.23 decodes its answer
with ``default_decode_ast_prompting(answer, ret_fmt, tool_call_tag)`` and this module does the
same, quirks included:

* **preparation** (every format): strip backticks, newlines and spaces from both ends and add a
  missing ``[`` / ``]`` -- also around JSON and XML.
* **tag**: with ``tool_call_tag`` the text between the first ``<TOOLCALL>`` and the first
  ``</TOOLCALL>`` after it, stripped, is decoded (no tag pair: a decode failure). The prepared
  brackets stay outside the tag, so inside it nothing is added: ``<TOOLCALL>f(a=1)</TOOLCALL>``
  is a call, ``<TOOLCALL>f(a=1), g()</TOOLCALL>`` a tuple of calls, ``<TOOLCALL></TOOLCALL>`` a
  decode failure (where an untagged empty answer is "no calls").
* **python**: the text stripped of whitespace and then of single quotes, parsed by
  :func:`~.bfcl_python.decode_python_calls` (without a tag the prepared brackets make both strips
  no-ops: :func:`~.bfcl_python.decode_output`).
* **json**: the text from its first ``[`` to its last ``]`` (if any), then the first match of
  BFCL's ``\\[\\s*{.*?}\\s*(?:,\\s*{.*?}\\s*)*\\]`` (if any), then ``json.loads``. A
  ``JSONDecodeError`` decodes to no calls; any other error (a number over Python's 4,300-digit
  limit, nesting too deep) is a decode failure. The value is iterated: list elements, a dict's
  keys, a string's characters (a number or null is a failure); elements that are not objects are
  skipped, an object without ``function`` or ``parameters`` is a failure, and
  ``{function: parameters}`` is the call (an unhashable name is a failure; parameters that are
  not an object fail the format check below). The regular expression is matched here by a
  linear-time scan that finds BFCL's match: Python's backtracking engine takes exponential time
  on a long array that ends without ``}]`` (a cut-off answer of many calls).
* **verbose_xml / concise_xml**: the first ``<functions>...</functions>`` element (none: a
  failure) parsed by ElementTree; each ``function`` child (``name`` attribute required) gives a
  call. Verbose: the ``param`` children of its first ``params`` child (or its own, without one),
  ``name`` (may be missing: a ``None`` parameter), ``value`` (default ``""``) and ``type``
  (default ``string``) attributes. Concise: its ``param`` children, ``name`` required, the value
  the element's text before any child, stripped. Values by type: ``string`` as written,
  ``integer``/``float`` by ``int``/``float`` (an error is a failure), ``boolean`` true when
  ``value.lower() == "true"``, ``null`` ``None``, ``array``/``tuple``/``object``/``dict`` by
  ``ast.literal_eval`` (literals only -- strings, numbers, tuples, lists, dicts, sets, booleans,
  None, Ellipsis; never ``eval``; any of its errors, ``MemoryError`` and ``RecursionError``
  included, is a failure), any other type as written.
* **format check**: as BFCL's ``is_function_calling_format_output``, a decoded list whose calls
  are not ``{name: {arguments}}`` (JSON parameters that are not an object) fails.

The answer is bounded by ``MAX_INPUT_CHARS`` before anything is read.

**Untrusted XML.** ElementTree is not hardened against malicious XML in general (entity
expansion, external entities); here it only ever parses a string that *starts* with
``<functions>``: the extracted element itself. Entities are declared in a document type
declaration, which XML allows only in the prolog, before the root element's start tag; inside an
element a ``<!DOCTYPE``/``<!ENTITY`` is a well-formedness error that expat reports before reading
any declaration. So the parsed text cannot declare an entity: only XML's five predefined entities
and character references are expanded (an undefined entity is a parse error), nothing is fetched,
and the work is linear in the (bounded) text. The tests check that a DTD inside the element is a
decode failure, in bfcl-eval too.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
import xml.etree.ElementTree as ET
from typing import Any

from toolace_kedro.pipelines.evaluation.bfcl_java_js import DecodeError
from toolace_kedro.pipelines.evaluation.bfcl_python import (
    decode_output,
    decode_python_calls,
    prepared_answer,
)

__all__ = ["RETURN_FORMATS", "calling_format_problem", "decode_formatted", "json_array_span"]

#: BFCL's return formats (``ret_fmt``)
RETURN_FORMATS = ("python", "json", "verbose_xml", "concise_xml")
_TAG = ("<TOOLCALL>", "</TOOLCALL>")
_FUNCTIONS = ("<functions>", "</functions>")
_BLANKS = re.compile(r"\s*")
_LITERAL_TYPES = ("array", "tuple", "object", "dict")


def _between(text: str, opening: str, closing: str) -> tuple[int, int] | None:
    """Where ``re.search(opening + "(.*?)" + closing, text, re.DOTALL)`` matches: the first
    opening with a closing after it, and the first such closing (``None`` without one)."""
    start = text.find(opening)
    if start < 0:
        return None
    end = text.find(closing, start + len(opening))
    return None if end < 0 else (start, end + len(closing))


def decode_formatted(output: str, ret_fmt: str, tool_call_tag: bool) -> list[dict[Any, Any]]:
    """BFCL's decoding of one raw answer in a return format (see the module docstring): the calls
    ``[{name: arguments}, ...]``, or :class:`DecodeError` where BFCL's decoder raises."""
    if ret_fmt not in RETURN_FORMATS:
        raise ValueError(f"ret_fmt must be one of {RETURN_FORMATS}, got {ret_fmt!r}")
    if ret_fmt == "python" and not tool_call_tag:
        return decode_output(output)
    text = prepared_answer(output)
    if tool_call_tag:
        span = _between(text, *_TAG)
        if span is None:
            raise DecodeError("no <TOOLCALL>...</TOOLCALL> in the answer")
        text = text[span[0] + len(_TAG[0]):span[1] - len(_TAG[1])].strip()
    if ret_fmt == "python":
        return decode_python_calls(text.strip().strip("'"))
    if ret_fmt == "json":
        return _decode_json(text)
    span = _between(text, *_FUNCTIONS)
    if span is None:
        raise DecodeError("no <functions>...</functions> element in the answer")
    return _decode_xml(text[span[0]:span[1]], verbose=ret_fmt == "verbose_xml")


# --------------------------------------------------------------------------- JSON
def json_array_span(text: str) -> tuple[int, int] | None:
    """``(start, end)`` of ``re.search(r"\\[\\s*{.*?}\\s*(?:,\\s*{.*?}\\s*)*\\]", text, re.DOTALL)``,
    found in linear time. The backtracking order is kept: for the leftmost ``[`` that matches,
    each ``{...}`` ends at its first ``}`` from which the rest can match, and after each one
    another ``, {...}`` is tried before the closing ``]``. Scanning the braces from the end, the
    match end from each ``{`` is known before any brace left of it needs it."""
    n = len(text)

    def skip(i: int) -> int:
        return _BLANKS.match(text, i).end()

    from_opening: dict[int, int | None] = {}  # "{" position -> end of the match continuing after it
    first_success: int | None = None  # match end from the leftmost "}" seen so far that leads to one
    for brace in reversed([m.start() for m in re.finditer(r"[{}]", text)]):
        if text[brace] == "{":
            from_opening[brace] = first_success
            continue
        after = skip(brace + 1)
        end = None
        if after < n and text[after] == ",":
            nxt = skip(after + 1)
            if nxt < n and text[nxt] == "{":
                end = from_opening[nxt]
        if end is None and after < n and text[after] == "]":
            end = after + 1
        if end is not None:
            first_success = end
    for match in re.finditer(r"\[", text):
        after = skip(match.start() + 1)
        if after < n and text[after] == "{" and from_opening[after] is not None:
            return match.start(), from_opening[after]
    return None


def _decode_json(text: str) -> list[dict[Any, Any]]:
    start, end = text.find("["), text.rfind("]")
    if start >= 0 and end > start:
        text = text[start:end + 1]
    span = json_array_span(text)
    if span is not None:
        text = text[span[0]:span[1]]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return []  # BFCL: text that is not JSON holds no calls
    except (ValueError, RecursionError, MemoryError) as exc:
        raise DecodeError(f"JSON that Python cannot read: {exc}") from None
    if not isinstance(value, (list, dict, str)):
        raise DecodeError(f"a JSON {type(value).__name__} is not a list of calls")
    calls = []
    for element in value:  # a dict's keys and a string's characters are no objects: skipped
        if not isinstance(element, dict):
            continue
        missing = [k for k in ("function", "parameters") if k not in element]
        if missing:
            raise DecodeError(f"a JSON call without {' and '.join(missing)}")
        name = element["function"]
        if isinstance(name, (list, dict)):
            raise DecodeError(f"a JSON call named by a {type(name).__name__}")
        calls.append({name: element["parameters"]})
    return calls


# --------------------------------------------------------------------------- XML
def _literal(raw: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in model strings
            return ast.literal_eval(raw)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise DecodeError(f"not a Python literal: {type(exc).__name__}: {str(exc)[:80]}") from None


def _typed(raw: str, type_name: str) -> Any:
    """A parameter's value by its ``type`` attribute, as BFCL's ``convert_value_by_type``."""
    if type_name == "integer" or type_name == "float":
        try:
            return int(raw) if type_name == "integer" else float(raw)
        except ValueError:
            raise DecodeError(f"{raw[:60]!r} is not an {type_name}") from None
    if type_name == "boolean":
        return raw.lower() == "true"
    if type_name == "null":
        return None
    if type_name in _LITERAL_TYPES:
        return _literal(raw)
    return raw  # string, and any type BFCL does not know


def _decode_xml(element: str, verbose: bool) -> list[dict[Any, Any]]:
    try:
        root = ET.fromstring(element)
    except (ET.ParseError, ValueError) as exc:
        raise DecodeError(f"not XML: {exc}") from None
    calls = []
    for function in root.findall("function"):
        if "name" not in function.attrib:
            raise DecodeError("a <function> without a name")
        arguments: dict[Any, Any] = {}
        if verbose:
            container = function.find("params")
            for param in (container if container is not None else function).findall("param"):
                arguments[param.attrib.get("name")] = _typed(param.attrib.get("value", ""),
                                                             param.attrib.get("type", "string"))
        else:
            for param in function.findall("param"):
                if "name" not in param.attrib:
                    raise DecodeError("a <param> without a name")
                arguments[param.attrib["name"]] = _typed((param.text or "").strip(), param.attrib.get("type", "string"))
        calls.append({function.attrib["name"]: arguments})
    return calls


# --------------------------------------------------------------------------- format check
def calling_format_problem(calls: list[Any]) -> str | None:
    """Why decoded calls are not BFCL's ``[{name: {arguments}}, ...]`` (its
    ``is_function_calling_format_output``), or None."""
    for index, call in enumerate(calls):
        if type(call) is not dict or len(call) != 1 or type(next(iter(call.values()))) is not dict:
            return f"call {index} is not {{name: {{arguments}}}}: {call!r:.80}"
    return None
