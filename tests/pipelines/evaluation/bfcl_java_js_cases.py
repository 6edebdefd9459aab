"""Answers to BFCL's ``simple_java`` and ``simple_javascript`` entries: the ground truth written as
Java/JavaScript source in several ways, and mutations of it (wrong type, value, name, missing and
extra arguments, Python-style values, unparseable text). Every case is ``(kind, output_text)``;
seeded.
"""

from __future__ import annotations

import json
import random
from typing import Any

from tests.pipelines.evaluation.bfcl_cases import instance, raw_cases, render

#: Java's element type name in ``new T[]{...}`` for BFCL's item types
_JAVA_ARRAY_TYPE = {"String": "String", "integer": "int", "long": "long", "char": "char", "any": "Object",
                    "double": "double", "float": "float", "boolean": "boolean"}


def _java_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _identifier(text: str) -> bool:
    return text.isidentifier() and text not in ("true", "false", "null", "new", "this")


def java_source(value: Any, prop: dict, style: str = "typed") -> str:
    """Java source for a possible-answer value of a parameter (``style``: typed literals, or
    ``bare`` names for string variables)."""
    kind = prop.get("type")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}L" if kind == "long" else str(value)
    if isinstance(value, float):
        return f"{value}f" if kind == "float" else repr(value)
    if isinstance(value, str):
        return value if style == "bare" and _identifier(value) else _java_string(value)
    if isinstance(value, list):
        item = (prop.get("items") or {}).get("type", "any")
        items = [java_source(v, {"type": item}, style) for v in value]
        if kind == "ArrayList":
            return "new ArrayList<>(Arrays.asList(" + ", ".join(items) + "))" if items else "new ArrayList<>()"
        return f"new {_JAVA_ARRAY_TYPE.get(item, 'Object')}[]{{" + ", ".join(items) + "}"
    if isinstance(value, dict):
        puts = " ".join(f"put({_java_string(str(k))}, {java_source(v[0] if isinstance(v, list) and v else v, {}, style)});"
                        for k, v in value.items())
        return "new HashMap<String, Object>() {{ " + puts + " }}"
    return "null"


def js_source(value: Any, prop: dict, style: str = "typed") -> str:
    """JavaScript source for a possible-answer value of a parameter."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if style == "bare" and _identifier(value):
            return value
        return json.dumps(value) if style != "single" else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        item = (prop.get("items") or {}).get("type", "any")
        return "[" + ", ".join(js_source(v, {"type": item}, style) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {js_source(v[0] if isinstance(v, list) and v else v, {}, style)}"
                               for k, v in value.items()) + "}"
    return "null"


def _call(name: str, args: dict[str, str], sep: str = ", ") -> str:
    return f"{name}(" + sep.join(f"{k}={v}" for k, v in args.items()) + ")"


def _mutations(value: Any, prop: dict, source, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, source) variants of one argument."""
    text = source(value, prop)
    out = [("null", "null"), ("py_none", "None"), ("bare_name", "someVariable"), ("py_true", "True"),
           ("quoted_source", json.dumps(text)), ("single_quoted_source", "'" + text + "'" if "'" not in text else text),
           ("number_1", "1"), ("number_1_5", "1.5"), ("number_1_5f", "1.5f"), ("long_1", "1L"), ("true", "true"),
           ("call_value", "compute(x=1)"), ("py_list", "[1, 2]"), ("py_dict", "{'k': 'v'}"), ("lambda", "x -> x"),
           ("empty_string", '""'), ("empty_char", "''"), ("arith", "1 + 1"), ("negative", "-5")]
    if isinstance(value, bool):
        out += [("bool_flip", source(not value, prop)), ("bool_as_int", str(int(value))),
                ("bool_quoted", json.dumps(source(value, prop)))]
    elif isinstance(value, (int, float)):
        out += [("num_changed", source(value + 1, prop)), ("num_as_float", repr(float(value))),
                ("num_float_suffix", f"{float(value)}f"), ("num_long_suffix", f"{int(value)}L"),
                ("num_quoted", json.dumps(str(value))), ("num_int", str(int(value))), ("num_exp", f"{value:e}")]
    elif isinstance(value, str):
        out += [("str_quoted_twice", "'" + json.dumps(value) + "'" if "'" not in value else json.dumps(value)),
                ("str_changed", source(value + "x", prop)), ("str_upper", source(value.upper(), prop)),
                ("str_punct", source(value.replace(" ", "-") + ".", prop)), ("str_bare", value if value.isidentifier() else "x"),
                ("str_single", "'" + value.replace("'", "") + "'" if value.replace("'", "") else "'x'")]
    elif isinstance(value, list):
        out += [("list_reversed", source(value[::-1], prop)), ("list_shorter", source(value[:-1], prop)),
                ("list_empty", source([], prop)),
                ("list_doubled", source(value + value[:1], prop)),
                ("list_bare_items", source(value, prop, "bare") if source is java_source else source(value, prop, "single")),
                ("list_as_arraylist", java_source(value, {**prop, "type": "ArrayList"})),
                ("list_as_array", java_source(value, {**prop, "type": "Array"})),
                ("list_js", js_source(value, prop)), ("list_new_array", "new Array(" + ", ".join(
                    js_source(v, {}) for v in value) + ")")]
    elif isinstance(value, dict):
        keys = list(value)
        out += [("dict_drop_key", source({k: v for k, v in value.items() if k != keys[0]}, prop) if keys else "{}"),
                ("dict_extra_key", source({**value, "extraKey": ["x"]}, prop)),
                ("dict_js", js_source(value, prop)), ("dict_java", java_source(value, prop)),
                ("dict_java_char_literal", "'" + java_source(value, prop) + "'")]
    return [(k, v) for k, v in out if v]


def java_js_cases(entry: dict, language: str, rng: random.Random, n_value_mutations: int = 14) -> list[tuple[str, str]]:
    """Outputs for a ``simple_java`` or ``simple_javascript`` entry."""
    source = java_source if language == "java" else js_source
    schema = entry["function"][0]
    props, required = schema["parameters"]["properties"], schema["parameters"].get("required", [])
    answer = entry["possible_answer"]
    params = next(iter(answer[0].values()))
    cases: list[tuple[str, str]] = []
    bases = {how: instance(answer, how, rng)[0] for how in ("first", "minimal", "random")}
    for how, (name, args) in bases.items():
        for style in ("typed", "bare", "single"):
            rendered = {k: source(v, props.get(k, {}), style) for k, v in args.items()}
            cases.append((f"truth_{how}_{style}", "[" + _call(name, rendered) + "]"))
        strings = {k: "'" + source(v, props.get(k, {})) + "'" for k, v in args.items()}
        cases.append((f"truth_{how}_as_strings", "[" + _call(name, strings) + "]"))
        collections = {k: ("'" + source(v, props.get(k, {})) + "'" if isinstance(v, (list, dict))
                           else source(v, props.get(k, {}))) for k, v in args.items()}
        cases.append((f"truth_{how}_collections_as_strings", "[" + _call(name, collections) + "]"))
        cases.append((f"truth_{how}_python", render([(name, args)])))
    name, args = bases["first"]
    typed = {k: source(v, props.get(k, {})) for k, v in args.items()}
    call = _call(name, typed)
    for kind, text in (("bare", call), ("fence", f"```\n[{call}]\n```"), ("semicolon", f"[{call};]"),
                       ("spaced", f"  [ {call} ]  "), ("newlines", "[" + _call(name, typed, ",\n ") + "]"),
                       ("prefix_text", f"Sure: [{call}]"), ("suffix_text", f"[{call}] done"),
                       ("double_brackets", f"[[{call}]]"), ("parens", f"({call})"), ("two_calls", f"[{call}, {call}]"),
                       ("two_statements", f"[{call}; {call}]"), ("newline_statements", f"[{call}\n{call}]"),
                       ("wrong_first", f"[other(a=1); {call}]"), ("right_first", f"[{call}; other(a=1)]"),
                       ("no_args", f"[{name}()]"), ("name_only", name), ("python_json", json.dumps([{name: args}]))):
        cases.append((kind, text))
    for how, (name, args) in bases.items():
        typed = {k: source(v, props.get(k, {})) for k, v in args.items()}

        def with_call(new_name: str, new_args: dict[str, str], kind: str, how: str = how) -> None:
            cases.append((f"{kind}_{how}", "[" + _call(new_name, new_args) + "]"))

        with_call(name + "V2", typed, "wrong_name")
        with_call(name.upper(), typed, "name_case")
        if "." in name:
            with_call(name.split(".")[-1], typed, "method_only")
        present = [p for p in required if p in typed]
        if present:
            drop = rng.choice(present)
            with_call(name, {k: v for k, v in typed.items() if k != drop}, "drop_required")
        answered = [p for p, allowed in params.items() if "" not in allowed and p in typed and p not in required]
        if answered:
            drop = rng.choice(answered)
            with_call(name, {k: v for k, v in typed.items() if k != drop}, "drop_answered_optional")
        with_call(name, {**typed, "unknownParam": "1"}, "extra_unknown_param")
        outside = [p for p in props if p not in params]
        if outside:
            with_call(name, {**typed, rng.choice(outside): '"x"'}, "extra_schema_param")
        if typed:
            first = next(iter(typed))
            cases.append((f"positional_name_{how}", f"[{name}(someVariable, " + ", ".join(
                f"{k}={v}" for k, v in typed.items()) + ")]"))
            cases.append((f"positional_literal_{how}", f"[{name}(1, " + ", ".join(
                f"{k}={v}" for k, v in typed.items()) + ")]"))
            cases.append((f"duplicate_kwarg_{how}", f"[{name}({first}={typed[first]}, " + ", ".join(
                f"{k}={v}" for k, v in typed.items()) + ")]"))
            param = rng.choice(list(args))
            mutations = _mutations(args[param], props.get(param, {}), source, rng)
            for kind, value in rng.sample(mutations, min(n_value_mutations, len(mutations))):
                with_call(name, {**typed, param: value}, kind)
    return cases + raw_cases()
