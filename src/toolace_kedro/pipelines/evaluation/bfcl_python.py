"""BFCL's prompt-mode decoding of Python calls (``default_decode_ast_prompting`` with the Python
return format), reading literals from ``ast.parse``'s tree and never evaluating anything; the
rules and the one documented difference (arithmetic) are described in :mod:`.bfcl`.
:func:`decode_output` takes a raw answer; :func:`decode_python_calls` the text once prepared (the
format-sensitivity decoders call it on the contents of a ``<TOOLCALL>`` tag).
"""

from __future__ import annotations

import ast
import warnings
from typing import Any

from toolace_kedro.pipelines.evaluation.bfcl_java_js import DecodeError
from toolace_kedro.toolcalls.parsing import MAX_INPUT_CHARS

__all__ = ["DecodeError", "Unevaluated", "decode_output", "decode_python_calls", "prepared_answer"]


class Unevaluated:
    """An argument expression BFCL would ``eval`` (arithmetic); kept as source, equal to nothing."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return f"Unevaluated({self.source!r})"


# --------------------------------------------------------------------------- decoding
def prepared_answer(output: str) -> str:
    """BFCL's preparation of a prompt-mode answer before any decoding: backticks, newlines and
    spaces stripped from both ends, a missing ``[`` / ``]`` added (answers over
    ``MAX_INPUT_CHARS``, or not strings, are a :class:`DecodeError`)."""
    if not isinstance(output, str):
        raise DecodeError(f"output is a {type(output).__name__}, not a string")
    if len(output) > MAX_INPUT_CHARS:
        raise DecodeError(f"output of {len(output)} characters exceeds {MAX_INPUT_CHARS}")
    text = output.strip("`\n ")
    if not text.startswith("["):
        text = "[" + text
    if not text.endswith("]"):
        text += "]"
    return text


def decode_output(output: str) -> list[dict[str, dict[str, Any]]]:
    """Decode raw output into BFCL's form ``[{name: {param: value}}, ...]`` without evaluating it."""
    return decode_python_calls(prepared_answer(output))


def decode_python_calls(text: str) -> list[dict[str, dict[str, Any]]]:
    """The calls of ``text`` parsed as one Python expression (a call, or a list, tuple or set of
    calls), as BFCL's ``ast_parse`` reads it once the text is prepared."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences in model strings
            body = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        raise DecodeError(f"not a Python list of calls: {exc}") from None
    if isinstance(body, ast.Call):
        nodes = [body]
    elif isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        nodes = body.elts
    else:
        raise DecodeError(f"expected a list of calls, got a {type(body).__name__} expression")
    calls = []
    for index, node in enumerate(nodes):
        if not isinstance(node, ast.Call):
            raise DecodeError(f"element {index} is a {type(node).__name__}, not a call")
        try:
            calls.append(_decode_call(node))
        except RecursionError:
            raise DecodeError(f"call {index} is nested too deeply") from None
    return calls


def _decode_call(node: ast.Call) -> dict[str, dict[str, Any]]:
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    arguments = {kw.arg: _decode_value(kw.value) for kw in node.keywords}  # positional ones ignored
    return {".".join(reversed(parts)): arguments}


def _decode_value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):  # BFCL negates the constant whatever the operator
        if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float, complex)):
            return -node.operand.value
        raise DecodeError(f"unary operator on a {type(node.operand).__name__} is not a literal")
    if isinstance(node, ast.List):
        return [_decode_value(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_decode_value(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                raise DecodeError("'**' unpacking inside a dict value")
            key, value = _decode_value(key_node), _decode_value(value_node)
            try:
                out[key] = value
            except TypeError:
                raise DecodeError(f"unhashable dict key {key!r}") from None
        return out
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _decode_call(node) if node.keywords else ast.unparse(node)
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    if isinstance(node, ast.BinOp):
        return Unevaluated(ast.unparse(node))
    raise DecodeError(f"{type(node).__name__} values are not literals")
