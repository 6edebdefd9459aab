"""Model outputs for BFCL's format-sensitivity items: the same generated call lists as
``bfcl_cases`` (ground truth, mutated calls) rendered in each return format -- JSON, verbose and
concise XML with right, wrong or missing type attributes, Python -- inside or outside
``<TOOLCALL>`` tags, with text around, truncated, and malformed per format.

Every case is ``(kind, output_text)``; seeded: the same item and seed give the same cases.
"""

from __future__ import annotations

import json
import random
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from tests.pipelines.evaluation.bfcl_cases import (
    Raw,
    instance,
    lit,
    render,
    sample_value,
    value_mutations,
)

#: the ``type`` attribute BFCL's XML prompt asks for, per Python value
XML_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string", type(None): "null", list: "array",
             tuple: "tuple", dict: "dict", Raw: "string"}
#: type attributes a model may write instead (BFCL reads unknown ones as strings)
OTHER_TYPES = ("string", "integer", "float", "boolean", "null", "array", "tuple", "dict", "object", "number", "list")


def call_variants(entry: dict, answer: list[dict], rng: random.Random, n_value_mutations: int = 5
                  ) -> list[tuple[str, list[tuple[str, dict]]]]:
    """Generated call lists: three ground-truth instances, call-count and call-level mutations,
    and a sample of value mutations of one argument."""
    schemas = {f["name"]: f for f in entry["function"]}
    bases = {how: instance(answer, how, rng) for how in ("first", "minimal", "random")}
    out = [(f"truth_{how}", calls) for how, calls in bases.items()]
    truth = bases["first"]
    out += [("call_duplicated", truth + truth[:1]), ("no_calls", [])]
    if len(truth) > 1:
        out += [("calls_reversed", truth[::-1]), ("call_dropped", truth[1:])]
    i = rng.randrange(len(truth))
    name, args = truth[i]

    def with_call(kind: str, new_name: str, new_args: dict) -> None:
        out.append((kind, truth[:i] + [(new_name, new_args)] + truth[i + 1:]))

    with_call("wrong_name", name + "_v2", args)
    params = schemas.get(name, {}).get("parameters", {})
    present = [p for p in params.get("required", []) if p in args]
    if present:
        drop = rng.choice(present)
        with_call("drop_required", name, {k: v for k, v in args.items() if k != drop})
    with_call("extra_unknown_param", name, {**args, "unknown_param": 1})
    outside = [p for p in params.get("properties", {}) if p not in args]
    if outside:
        p = rng.choice(outside)
        with_call("extra_schema_param", name, {**args, p: sample_value(params["properties"][p], rng)})
    if args:
        param = rng.choice(list(args))
        mutations = value_mutations(args[param], rng)
        for kind, value in rng.sample(mutations, min(n_value_mutations, len(mutations))):
            with_call(kind, name, {**args, param: value})
    return out


# --------------------------------------------------------------------------- renderers
def _plain(value: Any) -> Any:
    """A value JSON can hold (tuples as lists, a Raw source as its text)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def render_json(calls: list[tuple[str, dict]], style: str = "compact") -> str:
    rows = [{"function": name, "parameters": _plain(args)} for name, args in calls]
    if style == "indent":
        return json.dumps(rows, indent=2)
    if style == "names":  # the OpenAI spelling: no "function"/"parameters" keys
        return json.dumps([{"name": r["function"], "arguments": r["parameters"]} for r in rows])
    if style == "string_parameters":
        return json.dumps([{**r, "parameters": json.dumps(r["parameters"])} for r in rows])
    if style == "single" and rows:
        return json.dumps(rows[0])
    if style == "mixed":  # elements that are not objects are skipped
        return json.dumps([1, "x", *rows, None])
    return json.dumps(rows, separators=(",", ":"))


def _xml_text(value: Any, style: str) -> str:
    if isinstance(value, (Raw, str)):
        return str(value)
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value] if style == "json" else repr(value)
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(_plain(value)) if style == "json" else lit(value)


def _xml_type(value: Any, types: str, rng: random.Random) -> str | None:
    if types == "missing":
        return None
    right = XML_TYPES.get(type(value), "string")
    return rng.choice([t for t in OTHER_TYPES if t != right]) if types == "wrong" else right


def render_xml(calls: list[tuple[str, dict]], verbose: bool, rng: random.Random, types: str = "right",
               style: str = "py", container: bool = True) -> str:
    """BFCL's XML call format; ``types`` right, wrong (one random other type per value) or missing."""
    parts = ["<functions>"]
    for name, args in calls:
        parts.append(f"<function name={quoteattr(name)}>")
        if verbose and container:
            parts.append("<params>")
        for param, value in args.items():
            if param in ("", "**"):  # bfcl_cases' positional / unpacking keys
                continue
            kind = _xml_type(value, types, rng)
            type_attr = "" if kind is None else f' type="{kind}"'
            text = _xml_text(value, style)
            if verbose:
                parts.append(f"<param name={quoteattr(param)} value={quoteattr(text)}{type_attr}/>")
            else:
                parts.append(f"<param name={quoteattr(param)}{type_attr}>{escape(text)}</param>")
        if verbose and container:
            parts.append("</params>")
        parts.append("</function>")
    return "".join(parts + ["</functions>"])


def _tagged(body: str, tag: bool, rng: random.Random) -> list[tuple[str, str]]:
    """``body`` as a model may answer it: in the tag (when asked) and plain, with text around."""
    inner = [("tagged", f"<TOOLCALL>{body}</TOOLCALL>"),
             ("tagged_text_around", f"Sure.\n<TOOLCALL>{body}</TOOLCALL>\nDone [x]."),
             ("tagged_fence", f"```\n<TOOLCALL>{body}</TOOLCALL>\n```"),
             ("tagged_spaces", f"<TOOLCALL>\n  {body}  \n</TOOLCALL>")]
    plain = [("plain", body), ("fence", f"```\n{body}\n```"), ("text_around", f"Here you go: {body} Anything else?")]
    chosen = rng.sample(inner, 2) + rng.sample(plain, 1) if tag else rng.sample(plain, 2) + rng.sample(inner, 1)
    return chosen


def _truncated(text: str, rng: random.Random) -> str:
    return text[:rng.randrange(1, len(text))] if len(text) > 1 else ""


def format_cases(entry: dict, answer: list[dict], ret_fmt: str, tag: bool, rng: random.Random
                 ) -> list[tuple[str, str]]:
    """Outputs for one format-sensitivity item in its return format and tag setting."""
    cases: list[tuple[str, str]] = []
    variants = call_variants(entry, answer, rng)
    for kind, calls in variants:
        if ret_fmt == "python":
            body = render(calls, wrap=rng.choice(["brackets", "bare", "brackets"]))
        elif ret_fmt == "json":
            body = render_json(calls, rng.choice(["compact", "compact", "indent", "single"]))
        else:
            body = render_xml(calls, ret_fmt == "verbose_xml", rng, types=rng.choice(["right", "right", "wrong"]),
                              style=rng.choice(["py", "json"]))
        wrap, text = rng.choice(_tagged(body, tag, rng))
        cases.append((f"{kind}_{wrap}", text))
    truth = variants[0][1]
    body = {"python": render(truth), "json": render_json(truth), "verbose_xml": render_xml(truth, True, rng),
            "concise_xml": render_xml(truth, False, rng)}[ret_fmt]
    cases += [(f"truth_{wrap}", text) for wrap, text in _tagged(body, tag, rng)]
    cases += [("truncated", _truncated(text, rng)) for text in (body, f"<TOOLCALL>{body}</TOOLCALL>")]
    cases += [("other_format", rng.choice([render(truth), render_json(truth), render_xml(truth, True, rng),
                                           render_xml(truth, False, rng)]))]
    if ret_fmt == "json":
        cases += [(f"json_{style}", render_json(truth, style)) for style in ("names", "string_parameters", "mixed")]
    elif ret_fmt != "python":
        verbose = ret_fmt == "verbose_xml"
        cases += [("xml_missing_types", render_xml(truth, verbose, rng, types="missing")),
                  ("xml_wrong_types", render_xml(truth, verbose, rng, types="wrong")),
                  ("xml_other_flavour", render_xml(truth, not verbose, rng))]
        if verbose:
            cases.append(("xml_no_params_container", render_xml(truth, True, rng, container=False)))
    cases += [(kind, f"<TOOLCALL>{text}</TOOLCALL>" if tag and rng.random() < 0.5 else text)
              for kind, text in malformed(ret_fmt)]
    return cases


def malformed(ret_fmt: str) -> list[tuple[str, str]]:
    """Outputs that are not (well-formed) calls in ``ret_fmt``, and edge cases of its decoder."""
    common = ["", "[]", "I cannot help with that.", "<TOOLCALL></TOOLCALL>", "<TOOLCALL>[]</TOOLCALL>",
              "<TOOLCALL>f(a=1)", "f(a=1)</TOOLCALL>", "<TOOLCALL>x</TOOLCALL><TOOLCALL>f(a=1)</TOOLCALL>"]
    by_format = {
        "python": ["<TOOLCALL>f(a=1), g(b=2)</TOOLCALL>", "<TOOLCALL>'f(a=1)'</TOOLCALL>",
                   "<TOOLCALL>'[f(a=1)]'</TOOLCALL>", "<TOOLCALL>(f(a=1))</TOOLCALL>",
                   "<TOOLCALL>{f(a=1)}</TOOLCALL>", "<TOOLCALL>f</TOOLCALL>", "<TOOLCALL>f(a=2*3)</TOOLCALL>",
                   "<TOOLCALL>[f(a=1)]\n</TOOLCALL>", "<TOOLCALL>`[f(a=1)]`</TOOLCALL>", "[f(a=1)"],
        "json": ['{"function": "f", "parameters": {"a": 1}}', '[{"function": "f"}]', '[{"parameters": {}}]',
                 '[{"function": ["f"], "parameters": {}}]', '[{"function": 5, "parameters": {}}]',
                 '[{"function": "f", "parameters": [1]}]', '[{"function": "f", "parameters": "a=1"}]',
                 '{"a": 1}', '"text"', "5", "null", "[true]", '[{"function": "f", "parameters": {"a": NaN}}]',
                 '[{"function": "f", "parameters": {"a": ' + "9" * 5000 + "}}]", "[" * 50000 + "]" * 50000,
                 '[{"function": "f", "parameters": {}}] and [1]', '[{"a": 1}, {"b": 2}, {"c": 3} x]',
                 '```json\n[{"function": "f", "parameters": {"a": 1}}]\n```', "[{]", '[{"function": "f",',
                 '[{"function": "f", "parameters": {"a": 1}}, {"function": "g", "parameters": {}}',
                 "[" + "{}, " * 8 + "{} x]"],  # (bfcl-eval's regex takes 2^n steps on n calls here)
        "verbose_xml": [('<functions><function name="f"><params><param name="a" value="1" type="integer"/>'
                        "</params></function></functions>"),
                        '<functions><function><params/></function></functions>',
                        '<functions><function name="f"><params><param value="1"/></params></function></functions>',
                        '<functions><function name="f"><param name="a" value="x"/></function></functions>',
                        ('<functions><function name="f"><params><param name="a" value="1.5" type="integer"/>'
                        "</params></function></functions>"),
                        ('<functions><function name="f"><params><param name="a" value="nan" type="float"/>'
                        '<param name="b" value="TRUE" type="boolean"/><param name="c" value="x" type="null"/>'
                        "</params></function></functions>"),
                        ('<functions><function name="f"><params><param name="a" value="{[1]: 2}" type="dict"/>'
                        "</params></function></functions>"),
                        ('<functions><function name="f"><params><param name="a" value="{1, 2}" type="array"/>'
                        '<param name="b" value="b&apos;x&apos;" type="tuple"/><param name="c" value="..." '
                        'type="object"/><param name="d" value="1+2j" type="array"/></params></function></functions>'),
                        '<functions><function name="f"><params><param name="a" value="' + "[" * 300 + "]" * 300
                        + '" type="array"/></params></function></functions>',
                        ('<functions><function name="f"><params><param name="a" value="__import__(&apos;os&apos;)" '
                        'type="dict"/></params></function></functions>'),
                        '<functions><!DOCTYPE f [<!ENTITY x "y">]><function name="&x;"/></functions>',
                        '<functions><function name="&x;"/></functions>',
                        '<functions><function name="&#102;&amp;"/></functions>',
                        '<functions xmlns="urn:x"><function name="f"/></functions>',
                        '<functions><function name="f"><params><param name="a" value="1"/></params>',
                        '<functions><function name="f"/></functions><functions><function name="g"/></functions>',
                        '<functions><function name="f"></functions>', "<functions>", "<functions></functions>"],
        "concise_xml": [('<functions><function name="f"><param name="a" type="integer"> 7 </param></function>'
                        "</functions>"),
                        '<functions><function name="f"><param type="integer">7</param></function></functions>',
                        ('<functions><function name="f"><param name="a" type="array">[1, <b/>2]</param>'
                        "</function></functions>"),
                        ('<functions><function name="f"><param name="a" type="dict">{"k": true}</param>'
                        "</function></functions>"),
                        ('<functions><function name="f"><param name="a" type="string"/><param name="b" '
                        'type="tuple">(1,)</param></function></functions>'),
                        '<functions><function name="f"><param name="a">&lt;x&gt;</param></function></functions>',
                        ('<functions><function name="f"><param name="a" type="integer">1_000</param>'
                        '<param name="b" type="float"> 1e5 </param></function></functions>'),
                        ('<functions><function name="f"><param name="a" type="array">"\\d"</param>'
                        "</function></functions>"),
                        '<functions><function name="f"><param name="a" value="1"/></function></functions>',
                        '<functions><function name="f"><param name="a" type="integer">1</param>',
                        ("<functions><function name='f'><param name='a' type='boolean'>yes</param></function>"
                        "</functions>")],
    }
    return [(f"malformed_{i}", t) for i, t in enumerate(common + by_format[ret_fmt])]
