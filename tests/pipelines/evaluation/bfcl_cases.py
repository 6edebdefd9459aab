"""Model outputs for BFCL entries: the ground truth rendered in several ways, and mutations of it.

Every case is ``(kind, output_text)``. Values are rendered as Python source; a :class:`Raw` value is
inserted verbatim (a bare name, a nested call, arithmetic, a lambda ...). Seeded: the same entry and
seed give the same cases.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

OMIT = object()
POSITIONAL = ""  # an argument key rendered without ``key=``
UNPACK = "**"    # an argument key rendered as ``**value``


class Raw(str):
    """Source text inserted verbatim as an argument value."""


def lit(value: Any, style: str = "py") -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return repr(value) if style == "py" else json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value] if style == "jsonwords" else repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + "".join(lit(v, style) + ", " for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(lit(v, style) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{lit(k, style)}: {lit(v, style)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot render {value!r}")


def render_call(name: str, args: dict[str, Any], style: str = "py") -> str:
    parts = [lit(args[POSITIONAL], style)] if POSITIONAL in args else []
    for key, value in args.items():
        if key == UNPACK:
            parts.append("**" + lit(value, style))
        elif key != POSITIONAL:
            parts.append(f"{key}={lit(value, style)}")
    return f"{name}({', '.join(parts)})"


WRAPS = {
    "brackets": "[{}]", "bare": "{}", "fence": "```\n[{}]\n```", "fence_python": "```python\n[{}]\n```",
    "whitespace": "  \n[{}]\n\n ", "tab": "\t[{}]", "prefix_text": "Sure, here you go: [{}]",
    "suffix_text": "[{}] I hope this helps.", "double_brackets": "[[{}]]", "parens": "({})",
}


def render(calls: list[tuple[str, dict]], style: str = "py", wrap: str = "brackets", sep: str = ", ") -> str:
    body = sep.join(render_call(name, args, style) for name, args in calls)
    return WRAPS[wrap].replace("{}", body, 1)


def render_json(calls: list[tuple[str, dict]]) -> str:
    return json.dumps([{"name": name, "arguments": args} for name, args in calls])


def instance(answer: list[dict], how: str, rng: random.Random) -> list[tuple[str, dict]]:
    """One concrete set of calls drawn from a possible answer (``first``, ``minimal`` or ``random``)."""
    calls = []
    for expected in answer:
        (name, params), = expected.items()
        args = {}
        for param, allowed in params.items():
            values = [a for a in allowed if a != ""]
            if how == "first":
                value = values[0] if values else OMIT
            elif how == "minimal":
                value = OMIT if "" in allowed or not values else values[0]
            else:
                choice = rng.choice(allowed) if allowed else ""
                value = OMIT if choice == "" else choice
            if value is not OMIT:
                args[param] = value
        calls.append((name, args))
    return calls


def sample_value(prop: dict[str, Any], rng: random.Random) -> Any:
    if prop.get("enum"):
        return rng.choice(prop["enum"])
    return {"string": "example", "integer": rng.randint(0, 9), "float": 1.5, "boolean": True, "array": ["x"],
            "tuple": [1, 2], "dict": {"k": "v"}, "any": "x"}.get(prop.get("type"), "x")


def _schemas(entry: dict) -> dict[str, dict]:
    return {f["name"]: f for f in entry["function"]}


def value_mutations(value: Any, rng: random.Random) -> list[tuple[str, Any]]:
    """Variants of one argument value, each named by what it changes."""
    out: list[tuple[str, Any]] = [("none", None), ("bare_name", Raw("some_variable")),
                                  ("nested_call", Raw(f"lookup(key={lit(value)})") if not isinstance(value, Raw) else None),
                                  ("call_no_kwargs", Raw("compute()")), ("subscript", Raw("data[0]")),
                                  ("lambda", Raw("lambda x: x")), ("ellipsis", Raw("...")), ("set", Raw("{1, 2}")),
                                  ("fstring", Raw('f"x{1}"')), ("attribute", Raw("math.pi"))]
    if isinstance(value, bool):
        out += [("bool_flip", not value), ("bool_as_int", int(value)), ("bool_as_str", str(value)),
                ("not_operator", Raw(f"not {value}"))]
    elif isinstance(value, int):
        out += [("int_as_float", float(value)), ("int_as_str", str(value)), ("int_off_by_one", value + 1),
                ("unary_plus", Raw(f"+{value}")), ("arith_int", Raw(f"{value - 1} + 1")),
                ("arith_names", Raw(f"{value} + offset")), ("bool_for_int", value == 1)]
    elif isinstance(value, float):
        out += [("float_as_int", int(value)), ("float_as_str", str(value)), ("float_changed", value + 0.5),
                ("arith_float", Raw(f"{value!r} * 1")), ("float_exponent", Raw(f"{value:e}")),
                ("huge_int_for_float", Raw("1" * 400)), ("bool_for_float", value != 0)]
    elif isinstance(value, str):
        k = len(value) // 2
        out += [("str_upper", value.upper()), ("str_punct", value.replace(" ", "-") + "."),
                ("str_spaces", " ".join(value)), ("str_quote", value + "'"), ("str_changed", value + "x"),
                ("str_symbols", f"*{value}^_"), ("str_other_symbol", value + "!"),
                ("str_empty", ""), ("str_in_list", [value]), ("str_concat", Raw(f"{lit(value[:k])} + {lit(value[k:])}")),
                ("str_as_name", Raw(value) if value.isidentifier() and value not in ("None", "True", "False") else None)]
    elif isinstance(value, list):
        out += [("list_reversed", value[::-1]), ("list_shorter", value[:-1]), ("list_tuple", tuple(value)),
                ("list_doubled", value + value[:1]), ("list_first_item", value[0] if value else []),
                ("list_upper", [v.upper() if isinstance(v, str) else v for v in value]),
                ("list_num_swap", [float(v) if type(v) is int else int(v) if type(v) is float else v for v in value]),
                ("list_concat", Raw(f"{lit(value[:1])} + {lit(value[1:])}"))]
    elif isinstance(value, dict):
        keys = list(value)
        out += [("dict_drop_key", {k: v for k, v in value.items() if k != keys[0]} if keys else {"x": 1}),
                ("dict_extra_key", {**value, "extra_key": "x"}),
                ("dict_value_changed", {k: (v + "x" if isinstance(v, str) else v) for k, v in value.items()}),
                ("dict_upper", {k: (v.upper() if isinstance(v, str) else v) for k, v in value.items()}),
                ("dict_as_list", [value])]
    return [(kind, v) for kind, v in out if v is not None or kind == "none"]


def ast_cases(entry: dict, answer: list[dict], rng: random.Random, n_value_mutations: int = 12) -> list[tuple[str, str]]:
    """Outputs for an entry with a possible answer."""
    schemas = _schemas(entry)
    cases: list[tuple[str, str]] = []
    bases = {how: instance(answer, how, rng) for how in ("first", "minimal", "random")}
    for how, calls in bases.items():
        cases.append((f"truth_{how}", render(calls)))
        cases.append((f"truth_{how}_json_strings", render(calls, style="json")))
    truth = bases["first"]
    for wrap in WRAPS:
        cases.append((f"wrap_{wrap}", render(truth, wrap=wrap)))
    cases += [("newline_separated", render(truth, sep=",\n")), ("semicolon_separated", render(truth, sep="; ")),
              ("json_words", render(truth, style="jsonwords")), ("json_format", render_json(truth)),
              ("shuffled_kwargs", render([(n, dict(rng.sample(list(a.items()), len(a)))) for n, a in truth]))]
    if len(truth) > 1:
        cases += [("calls_reversed", render(truth[::-1])), ("calls_shuffled", render(rng.sample(truth, len(truth)))),
                  ("call_dropped", render(truth[1:])), ("call_duplicated", render(truth + truth[:1]))]
    else:
        cases += [("call_duplicated", render(truth + truth)), ("no_calls", render([]))]
    other = [n for n in schemas if n not in {c[0] for c in truth}]
    extra_name = rng.choice(other) if other else truth[0][0]
    extra_props = schemas[extra_name]["parameters"]
    extra_args = {p: sample_value(extra_props["properties"].get(p, {}), rng) for p in extra_props.get("required", [])}
    cases.append(("extra_call", render(truth + [(extra_name, extra_args)])))

    # call-level mutations on one call of a random ground-truth instance
    for how, calls in bases.items():
        i = rng.randrange(len(calls))
        name, args = calls[i]
        schema = schemas.get(name, {"parameters": {"properties": {}, "required": []}})
        props, required = schema["parameters"]["properties"], schema["parameters"].get("required", [])
        params = next(iter(answer[i].values()))

        def with_call(new_name: str, new_args: dict, kind: str, calls=calls, i=i) -> None:
            cases.append((f"{kind}_{how}", render(calls[:i] + [(new_name, new_args)] + calls[i + 1:])))

        with_call(name + "_v2", args, "wrong_name")
        with_call(name.upper(), args, "name_case")
        if "." in name:
            with_call(name.replace(".", "_"), args, "dots_to_underscores")
        present_required = [p for p in required if p in args]
        if present_required:
            drop = rng.choice(present_required)
            with_call(name, {k: v for k, v in args.items() if k != drop}, "drop_required")
        not_optional = [p for p, allowed in params.items() if "" not in allowed and p in args and p not in required]
        if not_optional:
            drop = rng.choice(not_optional)
            with_call(name, {k: v for k, v in args.items() if k != drop}, "drop_answered_optional")
        with_call(name, {**args, "unknown_param": 1}, "extra_unknown_param")
        outside = [p for p in props if p not in params and p not in args]
        if outside:
            p = rng.choice(outside)
            with_call(name, {**args, p: sample_value(props[p], rng)}, "extra_schema_param")
        missing = [p for p in params if p not in args and p in props]
        if missing:  # an optional answer parameter given a value of the schema's type
            p = rng.choice(missing)
            with_call(name, {**args, p: sample_value(props[p], rng)}, "optional_given")
        if args:
            first_key, first_value = next(iter(args.items()))
            with_call(name, {POSITIONAL: first_value, **{k: v for k, v in args.items() if k != first_key}},
                      "positional_arg")
            with_call(name, {**args, UNPACK: {"k": 1}}, "kwargs_unpack")
            param = rng.choice(list(args))
            mutations = value_mutations(args[param], rng)
            for kind, value in rng.sample(mutations, min(n_value_mutations, len(mutations))):
                with_call(name, {**args, param: value}, kind)
    return cases


def relevance_cases(entry: dict, rng: random.Random) -> list[tuple[str, str]]:
    """Outputs for an entry without a possible answer (relevance/irrelevance categories)."""
    schemas = list(entry["function"])
    calls = []
    for schema in rng.sample(schemas, min(2, len(schemas))):
        params = schema["parameters"]
        calls.append((schema["name"], {p: sample_value(params["properties"].get(p, {}), rng)
                                       for p in params.get("required", [])}))
    if not calls:  # some live_irrelevance entries offer no function at all
        calls = [("lookup", {"query": "example"})]
    name, args = calls[0]
    cases = [("one_call", render(calls[:1])), ("two_calls", render(calls)), ("bare_call", render(calls[:1], wrap="bare")),
             ("fenced_call", render(calls[:1], wrap="fence")), ("fence_python", render(calls[:1], wrap="fence_python")),
             ("call_with_text", render(calls[:1], wrap="suffix_text")), ("json_format", render_json(calls[:1])),
             ("no_args_call", render([(name, {})])),
             ("arith_arg", render([(name, {**args, "n": Raw("2 * 3")})])),
             ("arith_names_arg", render([(name, {**args, "n": Raw("x + 1")})])),
             ("lambda_arg", render([(name, {**args, "f": Raw("lambda: 0")})])),
             ("name_arg", render([(name, {**args, "city": Raw("Paris")})]))]
    return cases + raw_cases()


def raw_cases() -> list[tuple[str, str]]:
    """Outputs that are not (well-formed) call lists."""
    texts = ["", "[]", " [ ] ", "```\n[]\n```", "I cannot help with that request.", "None", "[None]", "[1, 2]",
             "{}", "[[]]", "()", "[func(a=1)", "func(a=1))]", "func(a=1", "[func(a=1), ]", "[func(a=)]",
             "[func(a=1) func(b=2)]", "[func(a=1); func(b=2)]", "[f(a=1)][0]", "[f(a='unterminated)]",
             "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>", "[f(a=1, a=2)]", "[x.y.z(a=1)]",
             "[f()(a=1)]", "[f(a={**x})]", "[f(a={[1]: 2})]", "'[f(a=1)]'", "[f(a=-'x')]", "[f(a=-None)]",
             "[f(a=--1)]", "[f(a=\"\\d\")]", "[f(a=1e999)]", "[f(a=b'x')]", "[f(a=1j)]", "[f(a=(1))]"]
    return [(f"raw_{i}", t) for i, t in enumerate(texts)]


def same(a, b) -> bool:
    """Equal with identical types all the way down (1 != 1.0 != True here; NaN equal to NaN): how
    the agreement tests compare our decoded calls with bfcl-eval's."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b
