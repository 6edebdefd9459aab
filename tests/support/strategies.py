"""Hypothesis strategies for canonical API definitions and dialog samples."""

from __future__ import annotations

import string

from hypothesis import strategies as st

IDENT = st.text(string.ascii_letters + "_", min_size=1, max_size=1).flatmap(
    lambda first: st.text(string.ascii_letters + string.digits + "_", max_size=12).map(lambda rest: first + rest)
)
# ToolACE-style names: words separated by single spaces, or dotted paths
FUNC_NAME = st.one_of(
    IDENT,
    st.lists(IDENT, min_size=2, max_size=3).map(" ".join),
    st.lists(IDENT, min_size=2, max_size=3).map(".".join),
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON_VALUE = st.recursive(
    SCALAR,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
PARAM_SCHEMA = st.sampled_from([
    {"type": "string", "description": "a string"},
    {"type": "integer", "minimum": 0},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
    {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
    {"type": "string", "enum": ["a", "b"]},
])


@st.composite
def api_definitions(draw):
    params = draw(st.dictionaries(IDENT, PARAM_SCHEMA, max_size=4))
    required = sorted(draw(st.sets(st.sampled_from(sorted(params)))) if params else [])
    api = {
        "name": draw(FUNC_NAME),
        "description": draw(TEXT.filter(lambda t: t.strip())),
        "parameters": {"type": "object", "properties": params, "required": required},
    }
    if draw(st.booleans()):
        api["returns"] = {"type": "object", "properties": {"result": {"type": "string"}}}
    if draw(st.booleans()):
        api["domain"] = draw(st.sampled_from(["Travel/Flights", "Finance", "Entertainment/Music"]))
    return api


calls = st.lists(
    st.fixed_dictionaries({"name": FUNC_NAME, "arguments": st.dictionaries(IDENT, JSON_VALUE, max_size=4)}),
    min_size=1, max_size=4,
)


@st.composite
def dialog_samples(draw):
    tools = draw(st.lists(api_definitions(), min_size=1, max_size=3, unique_by=lambda a: a["name"]))
    messages = []
    for _ in range(draw(st.integers(1, 3))):
        messages.append({"role": "user", "content": draw(TEXT)})
        while draw(st.booleans()):
            tool_calls = draw(calls)
            msg = {"role": "assistant", "content": "", "tool_calls": tool_calls}
            if draw(st.booleans()):
                msg["thought"] = draw(TEXT)
            messages.append(msg)
            messages.append({"role": "tool", "content": [
                {"name": c["name"], "results": draw(JSON_VALUE)} for c in tool_calls]})
        # a final text answer must not itself read as a call list
        messages.append({"role": "assistant", "content": "Answer! " + draw(TEXT)})
    return {
        "id": draw(IDENT),
        "type": draw(st.sampled_from(["single", "parallel", "dependent", "non_tool", "clarify"])),
        "tools": tools,
        "messages": messages,
        "meta": draw(st.dictionaries(IDENT, SCALAR, max_size=3)),
    }
