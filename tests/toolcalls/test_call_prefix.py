"""``never_python_calls`` / ``never_tool_calls``: a partial answer that no continuation turns into
Python calls (BFCL's decoding) / into calls the project's ``parse_calls`` reads."""

from __future__ import annotations

import random

import pytest

from toolace_kedro.toolcalls.call_prefix import never_python_calls, never_tool_calls
from toolace_kedro.toolcalls.parsing import ToolCallParseError, parse_calls

SETTLED = ["To calculate the", "The earliest reference ", "Here's", "I'm sorry", "Sure, I'd", "def f(x):",
           "import math\n", "Price $5 ", "Use `math.factorial` ", "你好，世界", "class A:", "return x ",
           "```python\ndef f", "1. Open the door", "Here \"x", "x \"\"\"", "[f(a=1)] and then more "]
OPEN = ["", "To calc", "To if", "print x", "[f(a=1)]", "[f(a=1)]`", "[f(a=1)]```\n ", "f'x", "r'",
        "[math.factorial(number=5)]", "func(a='x y z')", '[f(a="I\'m here")]', "```python\n[f(a=1)]\n```",
        "[f(x) for x in y]", "lambda x: f(x)", "[f(a=1), g(b=2)]", "x = 5", '[f(a="""multi\nline', "not x",
        "[f(a=1) if x else g(b=2)]", "[f(a=[1, 2], b={'k': 'v'})]", "Here", "a.b.c(d=e)", "(yield from x)",
        "[f(a=1)]\n\nSome explanation", "x async for", "f(a=1) # a comment with two words"]


@pytest.mark.parametrize("text", SETTLED)
def test_settled_texts(text):
    assert never_python_calls(text)


@pytest.mark.parametrize("text", OPEN)
def test_texts_that_may_still_become_calls(text):
    assert not never_python_calls(text)


def test_evidence_is_never_withdrawn_as_the_text_grows():
    """Once settled, every longer text is settled too (the stop rule may end a row at once)."""
    rng = random.Random(0)
    pieces = ["To", " ", "calc", "ulate", "'", "s", "(", "a", "=", "1", ")", "[", "]", "`", "\n", "def", "$", "，",
              "if", "x", '"', "f", ",", ".", "#", "r", "b"]
    for _ in range(400):
        text = ""
        settled = False
        for _ in range(rng.randint(1, 14)):
            text += rng.choice(pieces)
            now = never_python_calls(text)
            assert now or not settled, repr(text)
            settled = now


# --------------------------------------------------------------------------- never_tool_calls
TOOL_SETTLED = ["I'm", "Sure!", "To do that, I", "The answer is 5, so", "[1, 2", "12.0", '"quoted', "Here: [f(a=1)]",
                "[ I'm", "get weather? (", "你好", "- item"]
TOOL_OPEN = ["", "  ", "To do that", "get weather", "get weather(", "[f(a=1)]", "[", "[ ", "[]", "[{", '{"name"',
             "```python\n[f(a=1)]\n```", "`", "f(a=1), g(", "math.factorial(number=5)", "ns/path:op-1(", "_x"]


@pytest.mark.parametrize("text", TOOL_SETTLED)
def test_tool_calls_settled(text):
    assert never_tool_calls(text)


@pytest.mark.parametrize("text", TOOL_OPEN)
def test_tool_calls_still_open(text):
    assert not never_tool_calls(text)


def test_a_settled_text_never_parses_as_calls_and_stays_settled():
    """Whatever follows a settled text -- a valid call list included -- ``parse_calls`` reads no calls;
    a text that parses as calls is never settled on the way; evidence is never withdrawn."""
    rng = random.Random(1)
    pieces = ["I", "'m", " ", "get", " weather", "(", "city", "=", '"Paris"', ")", "[", "]", "{", '"name"', ":", ",",
              "!", ".", "\n", "`", "```", "5", "_", "/", "-", "你"]
    tails = ["", "(a=1)", "[f(a=1)]", ' {"name": "f", "arguments": {}}', "(x=1)]", "\n```"]
    settled_seen = 0
    for _ in range(1500):
        text, settled = "", False
        for _ in range(rng.randint(1, 10)):
            text += rng.choice(pieces)
            now = never_tool_calls(text)
            assert now or not settled, repr(text)
            settled = now
        if settled:
            settled_seen += 1
            for tail in tails:
                with pytest.raises(ToolCallParseError):
                    parse_calls(text + tail)
        else:
            for cut in range(len(text) + 1):
                try:
                    parse_calls(text)
                except ToolCallParseError:
                    break
                assert not never_tool_calls(text[:cut]), repr(text)
    assert settled_seen > 300
