"""BFCL's Java and JavaScript argument values: the decoded source text of an argument converted
per the parameter's Java/JavaScript type, as bfcl-eval 2026.3.23's ``java_type_converter`` and
``js_type_converter`` do before its AST checker compares the result.

Every value of these categories must decode to a string (the source text); the checker then reads
it by the parameter's type with regular expressions and Python's ``int``/``float`` on the text --
text that does not fit the type stays a string, which then fails the type check unless the
possible answer itself is a string (a "variable"). Nothing is evaluated.

* Java: ``integer``/``short``/``byte`` ``-?digits``; ``long`` with an ``L``; ``float`` with an ``f``;
  ``double`` without; ``boolean`` ``true``/``false``; ``String``, ``char`` and ``any`` stay text.
  ``Array`` reads ``new T[]{a, b}``, ``ArrayList`` ``new ArrayList<>(Arrays.asList(a, b))``,
  ``new ArrayList<>() {{ add(a); }}`` or an empty one, ``HashMap`` ``new HashMap<..>() {{ put("k", v); }}``
  (the first match anywhere in the text); items split at every comma. Items of a declared type are
  converted as that type (``String``/``char`` items of an ``ArrayList`` lose their first and last
  character, those of an ``Array`` keep their quotes); untyped items and map values are read as
  Java literals.
* JavaScript: ``String`` loses one pair of quotes; ``integer`` ``-?digits``; ``float``
  ``-?digits[.digits]``; ``Bigint`` with an ``n``; ``Boolean``; ``array`` ``[a, b]`` or
  ``new Array(a, b)`` (nested ``[[..], [..]]`` too); ``dict`` ``{k: v, ...}`` up to the first ``}``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ITEM_TYPED", "JAVA_TYPES", "JS_TYPES", "UnsupportedType", "convert_argument", "java_value", "js_value"]

#: the Python type each Java type's value must have after conversion
JAVA_TYPES: dict[str, type] = {"byte": int, "short": int, "integer": int, "float": float, "double": float,
                               "long": int, "boolean": bool, "char": str, "Array": list, "ArrayList": list,
                               "Set": set, "HashMap": dict, "Hashtable": dict, "Queue": list, "Stack": list,
                               "String": str, "any": str}
#: the Python type each JavaScript type's value must have after conversion
JS_TYPES: dict[str, type] = {"String": str, "integer": int, "float": float, "Bigint": int, "Boolean": bool,
                             "dict": dict, "array": list, "any": str}
#: types whose items are converted (and type-checked one level deep) by their ``items`` type
ITEM_TYPED = ("Array", "ArrayList", "array")



class UnsupportedType(ValueError):
    """A schema type BFCL's converters do not read (its checker crashes on it)."""


_INTEGER = re.compile(r"^-?\d+$")
_JAVA_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$")
_JAVA_DOUBLE = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
_JAVA_LONG = re.compile(r"^-?\d+[lL]$")
_JS_FLOAT = re.compile(r"^-?\d+(\.\d+)?$")
_JS_BIGINT = re.compile(r"^-?\d+n$")
_AS_LIST = re.compile(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)")
_ADDS = re.compile(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", re.DOTALL)
_ADD = re.compile(r"add\((.+?)\)")
_EMPTY_LIST = re.compile(r"new\s+ArrayList<\w*>\(\)")
_ARRAY = re.compile(r"new\s+\w+\[\]\s*\{(.*?)\}")
_PUTS = re.compile(r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}", re.DOTALL)
_PUT = re.compile(r"put\(\"(.*?)\",\s*(.*?)\)")
_EMPTY_MAP = re.compile(r"new\s+HashMap<.*?>\s*\(\)")
_JS_ARRAY_2D = re.compile(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)")
_JS_ARRAY = re.compile(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)")
_JS_INNER = re.compile(r"\[(.*?)\]")
_JS_DICT = re.compile(r"\{(.*?)\}")
_JS_PAIR = re.compile(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)")


def _number(text: str) -> Any:
    """Python's own ``int`` then ``float`` reading of the text, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


# --------------------------------------------------------------------------- Java
def _java_literal(text: str) -> Any:
    """An untyped Java item: boolean, double-quoted string, long, float, then int/float/text."""
    if text in ("true", "false"):
        return text == "true"
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if _JAVA_LONG.match(text):
        return int(text[:-1])
    if _JAVA_FLOAT.match(text):
        return float(re.sub(r"[fF]$", "", text))
    return _number(text)


def _java_item(text: str, item: str | None, strip_quotes: bool) -> Any:
    if strip_quotes and item in ("char", "String"):
        return text[1:-1]
    return java_value(text, item) if item else _java_literal(text)


def java_value(text: str, type_name: str, item: str | None = None) -> Any:
    """A Java argument's text read as ``type_name`` (the text itself where it does not fit)."""
    if type_name not in JAVA_TYPES:
        raise UnsupportedType(f"Java type {type_name!r} is unknown to BFCL's converter")
    if type_name in ("byte", "short", "integer"):
        return int(text) if _INTEGER.match(text) else text
    if type_name == "float":
        return float(re.sub(r"[fF]$", "", text)) if _JAVA_FLOAT.match(text) else text
    if type_name == "double":
        return float(text) if _JAVA_DOUBLE.match(text) else text
    if type_name == "long":
        return int(re.sub(r"[lL]$", "", text)) if _JAVA_LONG.match(text) else text
    if type_name == "boolean":
        return text == "true" if text in ("true", "false") else text
    if type_name == "ArrayList":
        found = _AS_LIST.search(text)
        if found:
            return [_java_item(e.strip(), item, True) for e in found.group(1).split(",")]
        found = _ADDS.search(text)
        if found:
            return [_java_item(e.strip(), item, True) for e in _ADD.findall(found.group(1))]
        return [] if _EMPTY_LIST.search(text) else text
    if type_name == "Array":
        found = _ARRAY.search(text)
        if not found:
            return text
        return [_java_item(e.strip(), item, False) for e in found.group(1).split(",") if e.strip()]
    if type_name == "HashMap":
        found = _PUTS.search(text)
        if found:
            body = found.group(1)
            return {k: _java_literal(v.strip()) for k, v in _PUT.findall(body)} if body.strip() else {}
        return {} if _EMPTY_MAP.search(text) else text
    if type_name in ("Set", "Hashtable", "Queue", "Stack"):
        raise UnsupportedType(f"BFCL's converter does not implement the Java type {type_name!r}")
    return text  # String, char (BFCL's char pattern never matches) and any


# --------------------------------------------------------------------------- JavaScript
def _js_literal(text: str) -> Any:
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if len(text) and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return _number(text)


def _js_array(code: str, item: str | None) -> Any:
    rows = _JS_ARRAY_2D.match(code)
    if rows:
        out = []
        for index, inner in enumerate(_JS_INNER.findall(rows.group(0))):
            inner = inner.strip()
            if index == 0 and inner.startswith("["):
                inner = inner[1:]
            out.append([_js_literal(e.strip()) for e in inner.split(",")])
        return out
    found = _JS_ARRAY.match(code)
    if not found:
        return code
    body = (found.group(1) if found.group(1) is not None else found.group(2)).strip()
    elements = [e.strip() for e in body.split(",")] if body else []
    if not item:
        return [_js_literal(e) for e in elements]
    return [js_value(e, item, "String" if e.startswith(("'", '"')) else None) for e in elements]


def _js_dict(code: str) -> Any:
    if code == "{}":
        return {}
    found = _JS_DICT.match(code)
    if not found:
        return code
    out: dict[str, Any] = {}
    for key, value in _JS_PAIR.findall(found.group(1)):
        key, value = key.strip().strip("'\""), value.strip()
        if value.startswith("[") and value.endswith("]"):
            out[key] = _js_collection(value, "array", None)
        elif value.startswith("{") and value.endswith("}"):
            out[key] = _js_collection(value, "dict", None)
        else:
            out[key] = _js_literal(value.strip("'\""))
    return out


def _js_collection(code: str, kind: str, item: str | None) -> Any:
    code = code.strip()
    try:  # BFCL returns the text when reading the collection raises
        return _js_array(code, item) if kind == "array" else _js_dict(code)
    except (ValueError, RecursionError):
        return code


def js_value(text: str, type_name: str, item: str | None = None) -> Any:
    """A JavaScript argument's text read as ``type_name`` (the text itself where it does not fit)."""
    if type_name not in JS_TYPES:
        raise UnsupportedType(f"JavaScript type {type_name!r} is unknown to BFCL's converter")
    if type_name == "String":
        quoted = len(text) and text[0] in "\"'" and text.endswith(text[0])
        return text[1:-1] if quoted else text
    if type_name == "integer":
        return int(text) if _INTEGER.match(text) else text
    if type_name == "float":
        return float(text) if _JS_FLOAT.match(text) else text
    if type_name == "Bigint":
        return int(text[:-1]) if _JS_BIGINT.match(text) else text
    if type_name == "Boolean":
        return text == "true" if text in ("true", "false") else text
    if type_name in ("dict", "array"):
        return _js_collection(text, type_name, item)
    return text  # any


def convert_argument(language: str, param: str, value: Any, prop: dict[str, Any]) -> tuple[Any, type, type | None] | str:
    """``(converted value, expected Python type, item type)`` of one Java/JavaScript argument, or
    the reason it is a type error. A type BFCL cannot convert is a ``ValueError`` (the official
    checker crashes on it)."""
    types, convert = (JAVA_TYPES, java_value) if language == "java" else (JS_TYPES, js_value)
    type_name = prop.get("type")
    if type_name not in types:
        raise ValueError(f"parameter {param!r} has type {type_name!r}, unknown to BFCL's {language} checker")
    if type(value) is not str:
        return f"type_error: {param!r} expects the {language} source of a {type_name} as a string, got {value!r:.60}"
    item_name = item_type = None
    if type_name in ITEM_TYPED:
        item_name = (prop.get("items") or {}).get("type")
        if item_name not in types:
            raise ValueError(f"parameter {param!r}: item type {item_name!r} unknown to BFCL's {language} checker")
        item_type = types[item_name]
    try:
        converted = convert(value, type_name, item_name)
    except UnsupportedType:
        raise
    except ValueError:  # Python's int() refuses texts of thousands of digits: BFCL crashes there
        return f"type_error: {param!r} = {value[:60]!r} cannot be read as {type_name}"
    return converted, types[type_name], item_type
