"""BFCL single-turn scoring: the official AST checker's verdict on one raw prompt-mode output.

Data: the thirteen scored single-turn categories of BFCL v4 and the non-scoring
``format_sensitivity``, read from the ``bfcl-eval`` wheel by
:mod:`~toolace_kedro.datasets.bfcl_data` (re-exported here). ``simple_java`` and
``simple_javascript`` answers are decoded by :mod:`.bfcl_java_js` and their values read per Java or
JavaScript type by :mod:`.bfcl_java_js_values`; ``format_sensitivity`` answers in the return
format their id names by :mod:`.bfcl_formats` (then checked as Python, with the parallel/multiple
rule of the source entry's id, as BFCL's runner passes that id to ``ast_checker``); the rest of
the checking below is shared. What follows describes the Python decoding
(:mod:`.bfcl_python`).

Scoring reproduces bfcl-eval 2026.3.23 -- ``default_decode_ast_prompting`` (the prompt-mode decoder
of the open-model handlers, ToolACE's included), ``ast_checker`` and the relevance rules of
``eval_runner`` -- verdict for verdict, quirks included:

* decoding: strip backticks, newlines and spaces from both ends (so a bare `````` fence goes, but
  a fence with a language tag leaves ``python`` in front and fails), add a missing ``[`` / ``]``,
  parse as one Python expression; every element must be a call. Names are dotted attribute paths;
  positional arguments are ignored; an unquoted name decodes to its string, a call without keyword
  arguments to its source text, a call with keyword arguments to a nested ``{name: {args}}``; any
  unary operator on a constant negates it (``+5`` decodes to ``-5``, as in BFCL); ``""``, ``[]`` and
  ``"[]"`` decode to no calls.
* **No evaluation.** BFCL's decoder calls ``eval`` on binary-operator nodes (``a=2*3`` -> 6; ``a=x+1``
  -> NameError -> decode failure). Here such a node decodes to an :class:`Unevaluated` value that
  equals nothing: the call still counts as a call for relevance/irrelevance, and the argument
  matches no allowed value, so the call fails an AST category. The verdicts therefore differ from
  BFCL's only on outputs where BFCL evaluates something: AST outputs whose arithmetic evaluates to
  an allowed value (BFCL passes them) and relevance outputs whose arithmetic raises (BFCL sees no
  call). BFCL's lambda branch raises before reaching its ``eval``: a lambda is a decode failure in
  both. The tests measure exactly this.
* checking: ``parallel`` categories match calls order-free and greedily (each expected call takes
  the first unused output call that passes) with equal counts; ``multiple`` ones need exactly as
  many calls as expected and check the first; others need exactly one call. Names must match
  (prompt mode keeps dotted names; ``underscore_to_dot=True`` gives the FC-mode conversion
  ``a.b`` -> ``a_b`` of OpenAI-style models); required parameters present; no parameter outside the
  schema or the answer; Python types exact (an int is accepted for a ``float`` parameter, not the
  reverse; a tuple becomes a list for ``tuple`` parameters only; array items are type-checked one
  level deep; a value of the answer's own type is accepted as a "variable"); strings compared after
  normalisation (drop spaces and ``,./-_*^``, lowercase, ``'`` -> ``"``); lists must equal one
  allowed list (top-level strings normalised); dicts key by key; ``""`` among the allowed values
  makes a parameter optional.
* irrelevance passes when nothing decodes to a non-empty call list, relevance when something does.

The project's ``parse_calls`` is not used here: it also reads JSON and names with spaces and refuses
positional arguments, where BFCL decodes differently. This decoder walks ``ast.parse``'s tree and
reads constants only.

Where the official checker would crash on malformed data, this module raises ``ValueError`` naming
the entry (bad schema or answer) or returns False (odd model values).
"""

from __future__ import annotations

import re
from typing import Any

from toolace_kedro.datasets.bfcl_data import (
    CATEGORIES,
    FILE_TEMPLATE,
    FORMAT_SENSITIVITY,
    LANGUAGE_OF,
    RELEVANCE_CATEGORIES,
    SINGLE_TURN_CATEGORIES,
    bfcl_data_dir,
    entry_problem,
    load_category,
    parse_format_sensitivity_id,
)
from toolace_kedro.pipelines.evaluation.bfcl_formats import (
    calling_format_problem,
    decode_formatted,
)
from toolace_kedro.pipelines.evaluation.bfcl_java_js import DecodeError, decode_java_js
from toolace_kedro.pipelines.evaluation.bfcl_java_js_values import convert_argument
from toolace_kedro.pipelines.evaluation.bfcl_python import Unevaluated, decode_output
from toolace_kedro.toolcalls.bfcl_prompt import parse_prompt_format

__all__ = ["CATEGORIES", "FILE_TEMPLATE", "FORMAT_SENSITIVITY", "LANGUAGE_OF", "RELEVANCE_CATEGORIES",
           "SINGLE_TURN_CATEGORIES", "DecodeError", "Unevaluated",
           "bfcl_data_dir", "check_output", "decode_output", "entry_problem", "load_category", "normalise_string", "score_category",
           "score_output"]

_PYTHON_TYPES = {"string": str, "integer": int, "float": float, "boolean": bool,
                 "array": list, "tuple": list, "dict": dict, "any": str}
_ITEM_CHECKED = ("array", "tuple")
_NORMALISE = re.compile(r"[ ,./\-_*^]")


# --------------------------------------------------------------------------- checking
def normalise_string(text: str) -> str:
    """BFCL's string standardisation: drop spaces and ``,./-_*^``, lowercase, ``'`` -> ``"``."""
    return _NORMALISE.sub("", text).lower().replace("'", '"')


def _normalised(values: Any) -> list[Any]:
    return [normalise_string(v) if type(v) is str else v for v in values]


def _answer_type(allowed: list[Any]) -> type | None:
    return next((type(a) for a in allowed if a != ""), None)


def _type_ok(value: Any, allowed: list[Any], expected: type, item_type: type | None) -> tuple[bool, bool]:
    """(type accepted, value is a "variable" -- of the answer's type rather than the schema's)."""
    answer_type = _answer_type(allowed)
    is_variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if item_type is None:
            return True, is_variable
        for option in allowed:  # items of the value must fit one allowed list (non-lists pass)
            if type(option) is not list or all(_type_ok(v, option, item_type, None)[0] for v in value):
                return True, is_variable
        return False, is_variable
    if answer_type is not None and type(value) is answer_type:
        return True, True
    return False, False


def _dict_matches(value: Any, allowed: list[Any]) -> bool:
    if not isinstance(value, dict):
        return False
    for option in allowed:
        if option == "" or not isinstance(option, dict):
            continue
        if all(k in option and (normalise_string(v) if type(v) is str else v) in _normalised(option[k])
               for k, v in value.items()) and all(k in value or "" in vals for k, vals in option.items()):
            return True
    return False


def _list_of_dicts_matches(value: list[Any], allowed: list[Any]) -> bool:
    return any(isinstance(option, (list, str)) and len(option) == len(value)
               and all(_dict_matches(v, [o]) for v, o in zip(value, option)) for option in allowed)


def _python_value(param: str, value: Any, prop: dict[str, Any]) -> tuple[Any, type, type | None] | str:
    """``(value, expected type, item type)`` of a Python argument, or why it is a type error."""
    type_name = prop.get("type")
    if type_name not in _PYTHON_TYPES:
        raise ValueError(f"parameter {param!r} has type {type_name!r}, unknown to BFCL's Python checker")
    expected, item_type = _PYTHON_TYPES[type_name], None
    if type_name in _ITEM_CHECKED:
        item_name = (prop.get("items") or {}).get("type")
        if item_name not in _PYTHON_TYPES:
            raise ValueError(f"parameter {param!r}: item type {item_name!r} unknown to BFCL's Python checker")
        item_type = _PYTHON_TYPES[item_name]
    if type_name == "tuple" and type(value) is tuple:
        value = list(value)
    if type_name == "float" and type(value) is int:
        try:
            value = float(value)
        except OverflowError:
            return f"type_error: {param!r} = {value} is too large for a float"
    return value, expected, item_type


def _check_value(param: str, value: Any, prop: dict[str, Any], allowed: list[Any], language: str) -> str | None:
    typed = _python_value(param, value, prop) if language == "python" else convert_argument(language, param, value,
                                                                                            prop)
    if isinstance(typed, str):
        return typed
    value, expected, item_type = typed
    type_name = prop.get("type")
    if isinstance(value, Unevaluated):
        return f"unevaluated: {param!r} = {value.source[:60]!r} is arithmetic, which is not evaluated"
    ok, is_variable = _type_ok(value, allowed, expected, item_type)
    if not ok:  # (a list of the wrong item type names its items: "expects array of float, got list [12, 15]")
        items = f" of {prop['items']['type']}" if item_type is not None and type(value) is expected else ""
        return f"type_error: {param!r} expects {type_name}{items}, got {type(value).__name__} {value!r:.60}"
    if not is_variable:
        if expected is dict:
            matched = _dict_matches(value, allowed)
        elif expected is list and item_type is dict:
            matched = _list_of_dicts_matches(value, allowed)
        elif expected is str:
            matched = normalise_string(value) in [normalise_string(a) for a in allowed if type(a) is str]
        elif expected is list:
            matched = _normalised(value) in [_normalised(a) for a in allowed if isinstance(a, (list, tuple, str))]
        else:
            matched = value in allowed
    else:
        matched = value in allowed
    return None if matched else f"value_error: {param!r} = {value!r:.60} not among {allowed!r:.80}"


def _check_call(schema: dict[str, Any], call: dict[str, dict[str, Any]], expected: dict[str, dict[str, list]],
                underscore_to_dot: bool, language: str = "python") -> str | None:
    """None when ``call`` satisfies one expected call ``{name: {param: [allowed...]}}``, else the reason."""
    answer = next(iter(expected.values()))
    name = schema["name"]
    if underscore_to_dot and "." in name:
        name = name.replace(".", "_")
    if name not in call:
        return f"wrong_func_name: expected {name!r}, got {next(iter(call))!r}"
    arguments = call[name]
    properties = schema["parameters"]["properties"]
    for param in schema["parameters"].get("required", []):
        if param not in arguments:
            return f"missing_required: {param!r} of {name}"
    for param, value in arguments.items():
        if param not in properties or param not in answer:
            return f"unexpected_param: {param!r} in {name}"
        problem = _check_value(param, value, properties[param], answer[param], language)
        if problem:
            return problem
    for param, allowed in answer.items():
        if param not in arguments and "" not in allowed:
            return f"missing_optional: {param!r} of {name} is not optional in the answer"
    return None


def _schema(functions: list[dict[str, Any]] | dict[str, Any], name: str) -> dict[str, Any]:
    if isinstance(functions, dict):
        return functions
    for schema in functions:
        if schema["name"] == name:
            return schema
    raise ValueError(f"the possible answer calls {name!r}, which is not among the entry's functions")


def check_output(category: str, entry: dict[str, Any], possible_answer: list[dict] | dict | None, output: str,
                 *, underscore_to_dot: bool = False) -> tuple[bool, str]:
    """BFCL's verdict for one raw model output and the reason (``"ok"`` when it passes).
    ``format_sensitivity``: decoded in the return format its entry's id names
    (:mod:`.bfcl_formats`), then checked as Python with its source entry's rule."""
    if category not in SINGLE_TURN_CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; expected one of {', '.join(SINGLE_TURN_CATEGORIES)}")
    entry_id = entry.get("id", "?")
    language, rule = LANGUAGE_OF.get(category, "python"), category
    try:
        if category == FORMAT_SENSITIVITY:
            try:
                prompt_format, rule = parse_format_sensitivity_id(entry_id)  # the source id picks the rule, as BFCL
            except ValueError as exc:
                raise ValueError(f"BFCL entry {entry_id} ({category}) is malformed: {exc}") from None
            fmt = parse_prompt_format(prompt_format)
            calls = decode_formatted(output, fmt["ret_fmt"], fmt["tool_call_tag"])
        else:
            calls = decode_output(output) if language == "python" else decode_java_js(output, language)
        error = ""
    except DecodeError as exc:
        calls, error = None, str(exc)
    if category in RELEVANCE_CATEGORIES:
        has_call = bool(calls)
        if "irrelevance" in category:
            return (True, "ok") if not has_call else (False, f"irrelevance: decoded {len(calls)} call(s)")
        return (True, "ok") if has_call else (False, f"relevance: no call decoded {error}".rstrip())
    if isinstance(possible_answer, dict):
        possible_answer = possible_answer.get("ground_truth")
    if not isinstance(possible_answer, list):
        raise ValueError(f"BFCL entry {entry_id} ({category}) needs its possible answer (the ground_truth list)")
    if calls is None:
        return False, f"decode_failed: {error}"
    problem = calling_format_problem(calls) if category == FORMAT_SENSITIVITY else None  # (others: always calls)
    if problem:
        return False, f"wrong_format: {problem}"
    try:
        return _check_calls(rule, entry["function"], possible_answer, calls, underscore_to_dot, language)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # malformed entry, not model output
        raise ValueError(f"BFCL entry {entry_id} ({category}) is malformed: {exc!r}") from None


def _check_calls(rule: str, functions: list[dict[str, Any]], possible_answer: list[dict],
                 calls: list[dict[str, dict[str, Any]]], underscore_to_dot: bool, language: str) -> tuple[bool, str]:
    """``rule``: the category (or, for format_sensitivity, the source entry's id) whose words
    ``parallel`` / ``multiple`` pick the matching rule, as in BFCL's ``ast_checker``."""
    if len(calls) != (len(possible_answer) if "parallel" in rule or "multiple" in rule else 1):
        return False, f"wrong_count: {len(calls)} call(s) for {len(possible_answer)} expected"
    if "parallel" in rule:
        used: set[int] = set()
        for i, expected in enumerate(possible_answer):
            schema = _schema(functions, next(iter(expected)))
            problems = []
            for j, call in enumerate(calls):
                if j in used:
                    continue
                problem = _check_call(schema, call, expected, underscore_to_dot, language)
                if problem is None:
                    used.add(j)
                    break
                problems.append(problem)
            else:
                return False, f"no_match for expected call {i} ({next(iter(expected))}): {problems[-1]}"
        return True, "ok"
    if "multiple" in rule:
        schema = _schema(functions, next(iter(possible_answer[0])))
    else:
        schema = functions if isinstance(functions, dict) else functions[0]
    problem = _check_call(schema, calls[0], possible_answer[0], underscore_to_dot, language)
    return (True, "ok") if problem is None else (False, problem)


def score_output(category: str, entry: dict[str, Any], possible_answer: list[dict] | dict | None, output: str,
                 *, underscore_to_dot: bool = False) -> bool:
    """BFCL's verdict for one raw model output string (``possible_answer`` None for relevance categories)."""
    return check_output(category, entry, possible_answer, output, underscore_to_dot=underscore_to_dot)[0]


def score_category(category: str, entries: list[dict[str, Any]], outputs: list[str],
                   *, underscore_to_dot: bool = False) -> dict[str, Any]:
    """Accuracy of one category's outputs (aligned with ``entries``) and failures by reason kind."""
    if len(entries) != len(outputs):
        raise ValueError(f"{category}: {len(outputs)} outputs for {len(entries)} entries")
    failures: dict[str, int] = {}
    correct = 0
    for entry, output in zip(entries, outputs):
        ok, reason = check_output(category, entry, entry.get("possible_answer"), output,
                                  underscore_to_dot=underscore_to_dot)
        correct += ok
        if not ok:
            kind = reason.split(":", 1)[0]
            failures[kind] = failures.get(kind, 0) + 1
    return {"category": category, "n": len(entries), "correct": correct,
            "accuracy": correct / len(entries) if entries else 0.0, "failures": dict(sorted(failures.items()))}
