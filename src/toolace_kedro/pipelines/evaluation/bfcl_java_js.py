"""BFCL's prompt-mode decoding of ``simple_java`` and ``simple_javascript`` answers, without a
Java or JavaScript runtime and without evaluating anything.

bfcl-eval 2026.3.23 reads these answers with tree-sitter (``model_handler/parser/java_parser.py``,
``js_parser.py``) after the same clean-up as for Python (strip backticks, newlines and spaces from
both ends, add a missing ``[`` / ``]``) and then drops the first and last character. The text
between is parsed as a Java or JavaScript program; any syntax error anywhere fails the answer.

* **Java**: the first method invocation of the program is the one call (later statements are
  read, never decoded). Its name is the source of the object before the dot plus the method
  name; ``name=value`` arguments become ``{name: text}``; a bare identifier argument is kept under
  the key ``None`` (so it fails as an unknown parameter); other positional arguments are dropped.
  A value's text is its source with the whitespace between tokens removed, except that string and
  character literals keep their text (their quotes are stripped at the top level), method
  invocations keep their source as written, ``new T(args)`` keeps only type and arguments (an
  anonymous class body such as ``{{ put(...); }}`` is dropped) and ``new T[]{...}`` needs its
  initialiser. A lone call with no ``;`` is a syntax error when tree-sitter finds it cheaper to
  skip it than to insert the semicolon: when its source is at most ten characters long (a
  newline counts as 31).
* **JavaScript**: the first expression statement that is a call is the call; its name is the
  callee's source; ``name=value`` arguments become ``{name: source of value}`` with one pair of
  surrounding quotes stripped; bare identifiers and ``true`` are kept under ``None``.

Only a defined subset of each language is parsed: literals, names, member/field access, indexing,
calls, unary and binary operators, parentheses, ``new``, array and object literals (JavaScript),
and statements separated by ``;`` (or by newlines in JavaScript). Anything else -- comments,
lambdas, casts, templates with ``${}``, keywords as statements -- is a :class:`DecodeError`, as
tree-sitter's errors are; the agreement tests measure where the two still part.
"""

from __future__ import annotations

from typing import Any

from toolace_kedro.pipelines.evaluation.bfcl_java_js_parser import (
    JAVA,
    JAVASCRIPT,
    JS_NOT_IDENTIFIER,
    LANGUAGES,
    DecodeError,
    Node,
    parse_program,
)
from toolace_kedro.toolcalls.parsing import MAX_INPUT_CHARS

__all__ = ["JAVA", "JAVASCRIPT", "LANGUAGES", "DecodeError", "decode_java_js"]


# --------------------------------------------------------------------------- Java value text
def _java_text(source: str, node: Node | None, top: bool = False) -> str:
    if node is None:
        raise DecodeError("an argument without a value")
    kind = node.kind
    if kind == "literal":
        quoted = node.text[:1] in "\"'"
        return node.text[1:-1] if top and quoted else node.text
    if kind in ("name", "call"):
        return source[node.start:node.end]
    if kind == "new_object":
        return f"new {node.text}(" + ", ".join(_java_text(source, a) for a in node.children) + ")"
    if kind == "new_array":
        return f"new {node.text}[]" + _java_text(source, node.children[0])
    if kind == "init":
        return "{" + ",".join(_java_text(source, c) for c in node.children) + node.text + "}"
    if kind == "field":
        return _java_text(source, node.children[0]) + "." + node.text
    if kind == "index":
        array = "" if node.children[0] is None else _java_text(source, node.children[0])
        return array + "[" + _java_text(source, node.children[1]) + "]"
    if kind == "lambda":
        return node.text + "->" + _java_text(source, node.children[0])
    if kind == "unary":
        return node.text + _java_text(source, node.children[0])
    if kind == "paren":
        return "(" + _java_text(source, node.children[0]) + ")"
    if kind == "assign":
        return _java_text(source, node.children[0]) + "=" + _java_text(source, node.children[1])
    if kind == "cond":
        a, b, c = (_java_text(source, n) for n in node.children)
        return f"{a}?{b}:{c}"
    if kind == "binary":
        return "".join(p if isinstance(p, str) else _java_text(source, p) for p in node.children)
    raise DecodeError(f"a {kind} value is not decoded")


def _arguments(source: str, args: list[Node], language: str) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for arg in args:
        if arg.kind == "assign":
            target, value = arg.children
            key: Any = source[target.start:target.end]
            if language == JAVA:
                text = _java_text(source, value, top=True)
            else:
                text = source[value.start:value.end]
                if len(text) >= 2 and text[0] in "\"'" and text[-1] in "\"'":
                    text = text[1:-1]
        elif arg.kind == "name" and (language == JAVA or arg.text not in JS_NOT_IDENTIFIER or arg.text == "true"):
            if language == JAVA and arg.text in ("true", "false", "null", "this"):
                continue
            key, text = None, arg.text
        else:
            continue
        if key in out:
            raise DecodeError(f"argument {key!r} given twice")
        out[key] = text
    return out


def _first_java_call(nodes: list[Any]) -> Node | None:
    """The first method invocation in source order, outer before inner (tree-sitter's pre-order)."""
    for node in nodes:
        if isinstance(node, list):
            found = _first_java_call(node)
        elif not isinstance(node, Node):
            continue
        elif node.kind == "call":
            return node
        else:
            found = _first_java_call(node.children + node.body)
        if found is not None:
            return found
    return None


def decode_java_js(output: str, language: str) -> list[dict[str, dict[Any, str]]]:
    """BFCL's prompt-mode decoding of a Java or JavaScript answer: ``[{name: {param: text}}]``
    with one call, or ``[]`` for a program without one; :class:`DecodeError` where BFCL's
    decoder fails."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    if not isinstance(output, str):
        raise DecodeError(f"output is a {type(output).__name__}, not a string")
    if len(output) > MAX_INPUT_CHARS:
        raise DecodeError(f"output of {len(output)} characters exceeds {MAX_INPUT_CHARS}")
    text = output.strip("`\n ")
    text = ("" if text.startswith("[") else "[") + text + ("" if text.endswith("]") else "]")
    source = text[1:-1]
    try:
        statements = parse_program(source, language)
    except RecursionError:
        raise DecodeError("nested too deeply") from None
    if language == JAVA:
        found = _first_java_call(statements)
        statements = [found] if found is not None else []
    for statement in statements:
        if statement.kind != "call":
            continue
        callee, args = statement.children
        if language == JAVA:
            name = statement.text if callee is None else source[callee.start:callee.end] + "." + statement.text
        else:
            name = source[callee.start:callee.end]
        return [{name: _arguments(source, args, language)}]
    return []
