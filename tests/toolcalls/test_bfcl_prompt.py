"""``toolcalls.bfcl_prompt``: BFCL's prompt-mode system prompt read from the bfcl-eval wheel."""

from __future__ import annotations

import json

import pytest

from toolace_kedro.toolcalls import bfcl_prompt
from toolace_kedro.toolcalls.bfcl_prompt import (
    bfcl_messages,
    bfcl_system_prompt,
    default_prompt_format,
    language_hint,
    parse_prompt_format,
    with_language_hint,
)

FUNCTIONS = [{"name": "math.add", "description": "Add two numbers.",
              "parameters": {"type": "dict", "properties": {"a": {"type": "integer", "description": "first"},
                                                            "b": {"type": "integer", "description": "second"}},
                             "required": ["a", "b"]}}]
DEFAULT = "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic"


@pytest.fixture
def fresh_constants():
    """Forget the templates (and hints) read so far, before and after the test."""
    bfcl_prompt._constants.cache_clear()
    bfcl_prompt.language_hint.cache_clear()
    yield
    bfcl_prompt._constants.cache_clear()
    bfcl_prompt.language_hint.cache_clear()


def test_language_hints_are_bfcls_sentences():
    assert language_hint() == " Note that the provided function is in Python 3 syntax."
    assert language_hint("java") == " Note that the provided function is in Java 8 SDK syntax."
    assert language_hint("javascript") == " Note that the provided function is in JavaScript syntax."
    with pytest.raises(ValueError, match="language must be one of"):
        language_hint("rust")
    hinted = with_language_hint(FUNCTIONS)
    assert hinted[0]["description"] == "Add two numbers. Note that the provided function is in Python 3 syntax."
    assert FUNCTIONS[0]["description"] == "Add two numbers."  # a copy: the input is untouched


def test_parse_prompt_format():
    assert default_prompt_format() == DEFAULT
    assert parse_prompt_format() == {"ret_fmt": "python", "tool_call_tag": False, "func_doc_fmt": "json",
                                     "prompt_fmt": "plaintext", "style": "classic"}
    assert parse_prompt_format(DEFAULT.replace("False", "True"))["tool_call_tag"] is True
    for bad in ("ret_fmt=yaml&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic",
                DEFAULT.replace("&style=classic", ""), DEFAULT + "&extra=1", "python"):
        with pytest.raises(ValueError, match="not a BFCL prompt format") as error:
            parse_prompt_format(bad)
        assert DEFAULT in str(error.value)  # the message shows a valid example


def test_default_prompt_lists_the_functions_as_indented_json():
    prompt = bfcl_system_prompt(with_language_hint(FUNCTIONS))
    assert prompt.startswith("You are an expert in composing functions.You are given a question")
    assert "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]" in prompt
    assert prompt.endswith("Here is a list of functions in json format that you can invoke.\n"
                           + json.dumps(with_language_hint(FUNCTIONS), indent=4) + "\n")
    assert "<TOOLCALL>" not in prompt and "## Task" not in prompt


def test_markdown_and_experimental_styles():
    markdown = bfcl_system_prompt(FUNCTIONS, DEFAULT.replace("plaintext", "markdown"))
    assert markdown.startswith("You are an expert in composing functions.\n\n## Task\n")
    assert "\n\n## Tool Call Format\n" in markdown and "\n\n## Available Tools\n" in markdown
    experimental = bfcl_system_prompt(FUNCTIONS, DEFAULT.replace("classic", "experimental"))
    assert experimental.startswith("You are an expert in generating structured function calls.")
    assert "Below is a list of callable functions in the json style:" in experimental
    tagged = bfcl_system_prompt(FUNCTIONS, DEFAULT.replace("tool_call_tag=False", "tool_call_tag=True"))
    assert "<TOOLCALL>[func_name1(" in tagged
    xml = bfcl_system_prompt(FUNCTIONS, DEFAULT.replace("ret_fmt=python", "ret_fmt=concise_xml"))
    assert "<functions><function name=" in xml and "must be one of: string, integer" in xml
    xml_doc = bfcl_system_prompt(FUNCTIONS, DEFAULT.replace("func_doc_fmt=json", "func_doc_fmt=xml"))
    assert xml_doc.endswith('Here is a list of functions in xml format that you can invoke.\n<function name="math.add">\n'
                            '  <desc>Add two numbers.</desc>\n  <params>\n'
                            '    <param name="a" type="integer" required="true">\n      <desc>first</desc>\n'
                            '    </param>\n    <param name="b" type="integer" required="true">\n'
                            '      <desc>second</desc>\n    </param>\n  </params>\n</function>\n\n')
    python_doc = bfcl_system_prompt(FUNCTIONS, DEFAULT.replace("func_doc_fmt=json", "func_doc_fmt=python"))
    assert python_doc.endswith('in python format that you can invoke.\n# Function: math.add\n    """\n'
                               '    Add two numbers.\n\n    Args:\n        a (int): first\n        b (int): second\n'
                               '    """\n\n\n\n\n')


def test_messages_put_the_turns_system_message_after_bfcls():
    turn = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1 + 2?", "extra": 1}]
    messages = bfcl_messages(turn, FUNCTIONS)
    assert messages[0]["content"] == bfcl_system_prompt(with_language_hint(FUNCTIONS)) + "\n\nBe brief."
    assert messages[1:] == [{"role": "user", "content": "1 + 2?"}]
    plain = bfcl_messages(turn[1:], FUNCTIONS, language=None)
    assert plain[0]["content"] == bfcl_system_prompt(FUNCTIONS) and len(plain) == 2


def test_a_missing_wheel_file_is_an_error_naming_its_path(tmp_path, monkeypatch, fresh_constants):
    package = tmp_path / "bfcl_eval"
    (package / "constants").mkdir(parents=True)
    monkeypatch.setattr(bfcl_prompt, "bfcl_package_dir", lambda: package)
    with pytest.raises(FileNotFoundError, match=str(package / "constants" / "default_prompts.py")):
        default_prompt_format()
    # a templates file without the names this project reads
    (package / "constants" / "default_prompts.py").write_text("DEFAULT_SYSTEM_PROMPT_FORMAT = 'x'\n")
    with pytest.raises(ValueError, match=r"default_prompts.py has no PROMPT_STYLE_TEMPLATES"):
        default_prompt_format()
    # utils.py without the hint function: the hint cannot be found
    (package / "utils.py").write_text("def other():\n    return 'x'\n")
    with pytest.raises(ValueError, match=r"utils.py: found 0 language hints for 'Python'"):
        language_hint("python")


def test_the_package_not_installed_is_a_clear_error(monkeypatch, fresh_constants):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps bfcl-eval==2026.3.23"):
        bfcl_prompt.bfcl_package_dir()
