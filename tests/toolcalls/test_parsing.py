import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import calls
from toolace_kedro.toolcalls import ToolCallParseError, parse_calls, render_calls, render_calls_json


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[get_weather(city="Paris")]', [{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        ('get_weather(city="Paris")', [{"name": "get_weather", "arguments": {"city": "Paris"}}]),
        ("[Market Trends API(region='EU', top=3)]", [{"name": "Market Trends API", "arguments": {"region": "EU", "top": 3}}]),
        ("[math.factorial(n=5), spotify.play(artist='X', duration=0)]",
         [{"name": "math.factorial", "arguments": {"n": 5}},
          {"name": "spotify.play", "arguments": {"artist": "X", "duration": 0}}]),
        ("[f()]", [{"name": "f", "arguments": {}}]),
        ("[f(a=1,)]", [{"name": "f", "arguments": {"a": 1}}]),
        ("  [ f ( a = -1.5e3 ) ]  ", [{"name": "f", "arguments": {"a": -1500.0}}]),
        ('[f(a={"k": [1, (2, 3), {"z": None}]}, b=True, c=null, d=false)]',
         [{"name": "f", "arguments": {"a": {"k": [1, [2, 3], {"z": None}]}, "b": True, "c": None, "d": False}}]),
        ('[f(s="a, b) c=d", t=\'it\\\'s\')]', [{"name": "f", "arguments": {"s": "a, b) c=d", "t": "it's"}}]),
        ('[f(s="""multi\nline""")]', [{"name": "f", "arguments": {"s": "multi\nline"}}]),
        ("```python\n[f(a=1)]\n```", [{"name": "f", "arguments": {"a": 1}}]),
        ("", []),
        ("[]", []),
        ("  [ ]  ", []),
    ],
)
def test_call_form(text, expected):
    assert parse_calls(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[{"name": "f", "arguments": {"a": 1}}]', [{"name": "f", "arguments": {"a": 1}}]),
        ('{"name": "f", "arguments": {"a": 1}}', [{"name": "f", "arguments": {"a": 1}}]),
        ('{"name": "f", "arguments": "{\\"a\\": [1, 2]}"}', [{"name": "f", "arguments": {"a": [1, 2]}}]),
        ('{"name": "f", "parameters": {"a": 1}}', [{"name": "f", "arguments": {"a": 1}}]),
        ('[{"type": "function", "function": {"name": "g.h", "arguments": "{}"}}]', [{"name": "g.h", "arguments": {}}]),
        ('```json\n[{"name": "Market Trends API", "arguments": {}}]\n```', [{"name": "Market Trends API", "arguments": {}}]),
    ],
)
def test_json_forms(text, expected):
    assert parse_calls(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, I cannot help with that.",
        "The weather API needs a city. Which city do you mean?",
        "Sure (happy to help) with that",
        "f(1, 2)",  # positional arguments
        "f(a=1",
        "[f(a=1)",
        "f(a=1) trailing prose",
        "f(a=1, a=2)",
        "f(a=)",
        "f(a=[1, 2)",
        'f(a="unterminated)',
        "f(a=x)",  # a name, not a literal
        "f(a=1+1)",
        "f(a=b'bytes')",
        "f(a={1, 2})",  # sets are not JSON
        "f(a=1j)",
        "f(a=float('nan'))",
        '{"arguments": {}}',
        '[{"name": "f", "arguments": [1]}]',
        '{"name": "f", "arguments": "not json"}',
        "[1, 2, 3]",
        42,
    ],
)
def test_refusals_and_malformed_raise(text):
    with pytest.raises(ToolCallParseError):
        parse_calls(text)


def test_parse_error_is_a_value_error():
    assert issubclass(ToolCallParseError, ValueError)


HOSTILE = [
    'f(a=__import__("os").system("touch {marker}"))',
    'f(a=open("{marker}", "w"))',
    "f(a=(lambda: open('{marker}', 'w'))())",
    '[f(a=exec("open(\'{marker}\', \'w\')"))]',
    '{{"name": "f", "arguments": "__import__(\'os\').system(\'touch {marker}\')"}}',
    "f(a=[x for x in open('{marker}', 'w')])",
    'f(a=eval("1"))',
    "f(a=().__class__.__bases__[0].__subclasses__())",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_input_never_executes(template, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ToolCallParseError):
        parse_calls(template.format(marker=marker))
    assert not marker.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000,
        "f(a=" + "[" * 100_000 + "]" * 100_000 + ")",
        "f(a=" + "(" * 50_000,
        '[{"a":' * 100_000,
        "f(a=" + "9" * 100_000 + ")",  # longer than int's digit limit
        "x" * 3_000_000,
        "f(" + ", ".join(f"a{i}=" for i in range(1000)) + ")",
    ],
)
def test_huge_or_deep_input_fails_fast(text):
    start = time.perf_counter()
    with pytest.raises(ToolCallParseError):
        parse_calls(text)
    assert time.perf_counter() - start < 5


def test_megabytes_and_thousands_of_calls_parse_fast():
    many = "[" + ", ".join(f'f{i}(a={i}, b="x{i}", c=[{i}, {{"k": {i}}}])' for i in range(5000)) + "]"
    big = 'f(a="' + "y" * 2_000_000 + '")'
    start = time.perf_counter()
    assert len(parse_calls(many)) == 5000
    assert len(parse_calls(big)[0]["arguments"]["a"]) == 2_000_000
    assert time.perf_counter() - start < 5


def test_oversized_input_refused():
    with pytest.raises(ToolCallParseError, match="exceeds"):
        parse_calls("[f(a=1)]" + " " * 5_000_000)


def test_render_examples():
    text = render_calls([{"name": "Market Trends API", "arguments": {"s": 'a"b\nc', "n": [1, 2.0, None, True]}}])
    assert text == '[Market Trends API(s="a\\"b\\nc", n=[1, 2.0, None, True])]'
    assert render_calls([]) == "[]"
    assert json.loads(render_calls_json([{"name": "f", "arguments": {"a": 1}}])) == [{"name": "f", "arguments": {"a": 1}}]


@pytest.mark.parametrize("bad", [{"name": "f(x)", "arguments": {}}, {"name": "f", "arguments": {"a b=": 1}},
                                 {"name": "f", "arguments": {"a": float("inf")}}, {"name": "f", "arguments": {"a": {1}}}])
def test_render_refuses_what_cannot_round_trip(bad):
    with pytest.raises(ValueError):
        render_calls([bad])


@settings(max_examples=300, deadline=None)
@given(calls)
def test_render_parse_round_trip(generated):
    assert parse_calls(render_calls(generated)) == generated
    assert parse_calls(render_calls_json(generated)) == generated


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text):
    try:
        result = parse_calls(text)
    except ToolCallParseError:
        return
    assert isinstance(result, list)
    assert all(isinstance(c["name"], str) and isinstance(c["arguments"], dict) for c in result)
