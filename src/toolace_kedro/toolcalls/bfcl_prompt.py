"""BFCL's own prompt-mode system prompt, built from the text shipped in the ``bfcl-eval`` wheel.

BFCL asks prompt-mode models (ToolACE's among them) with a system prompt assembled from the
templates of ``bfcl_eval/constants/default_prompts.py`` (persona, task, call format, multi-turn
behaviour, the function list as indented JSON) and function descriptions that end with a language
hint (" Note that the provided function is in Python 3 syntax."). The templates and the hint are
read from the installed wheel -- ``default_prompts.py`` is loaded by its file path (it holds only
constants) and the hint is read from ``bfcl_eval/utils.py`` with ``ast`` -- so nothing here retypes
BFCL's wording and the ``bfcl_eval`` package is never imported (it pulls in every provider SDK).
The sentences with which BFCL asks for Java and JavaScript parameters as strings of source code
are f-strings in its loader; they are written out here, and ``test_prompt.py`` checks every
entry's prompt against bfcl-eval's own code.

A prompt format is BFCL's query string, e.g. its default
``ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic``
(the ``format_sensitivity`` category asks each entry in the 26 formats of
:data:`FORMAT_SENSITIVITY_FORMATS`). The function list is written in the format's ``func_doc_fmt``:
``json`` (BFCL's default), ``python`` or ``xml`` (:mod:`~toolace_kedro.toolcalls.bfcl_function_docs`).
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

from toolace_kedro.toolcalls.bfcl_function_docs import function_doc

__all__ = ["FORMAT_SENSITIVITY_FORMATS", "LANGUAGES", "bfcl_messages", "bfcl_package_dir", "bfcl_system_prompt", "default_prompt_format",
           "language_hint", "parse_prompt_format", "prompt_constant", "prompt_format", "with_language_hint"]

#: the languages whose hint BFCL appends to function descriptions, by the word that names each
LANGUAGES = {"python": "Python", "java": "Java 8", "javascript": "JavaScript"}

_FORMAT = re.compile(r"^ret_fmt=(?P<ret_fmt>python|json|verbose_xml|concise_xml)"
                     r"&tool_call_tag=(?P<tool_call_tag>True|False)&func_doc_fmt=(?P<func_doc_fmt>python|xml|json)"
                     r"&prompt_fmt=(?P<prompt_fmt>plaintext|markdown)&style=(?P<style>classic|experimental)$")


def bfcl_package_dir() -> Path:
    """The installed ``bfcl_eval`` package folder (located, not imported)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("bfcl-eval is not installed; `pip install --no-deps bfcl-eval==2026.3.23` "
                                "provides BFCL's data and prompts")
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=1)
def _constants() -> ModuleType:
    path = bfcl_package_dir() / "constants" / "default_prompts.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: BFCL's prompt templates come from bfcl-eval==2026.3.23")
    spec = importlib.util.spec_from_file_location("_bfcl_default_prompts", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a module of string constants only
    for name in ("DEFAULT_SYSTEM_PROMPT_FORMAT", "PROMPT_STYLE_TEMPLATES", "PROMPT_TEMPLATE_MAPPING",
                 "OUTPUT_FORMAT_MAPPING", "PARAM_TYPE_MAPPING"):
        if not hasattr(module, name):
            raise ValueError(f"{path} has no {name}: not the bfcl-eval version this project reads (2026.3.23)")
    return module


def prompt_constant(name: str) -> Any:
    """A constant of BFCL's ``default_prompts.py`` by name (e.g. ``MAXIMUM_STEP_LIMIT``, the step
    limit of its multi-turn runner, or ``DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING``)."""
    consts = _constants()
    if not name.isupper() or not hasattr(consts, name):
        raise ValueError(f"BFCL's default_prompts.py has no constant {name!r}")
    return getattr(consts, name)


def default_prompt_format() -> str:
    """BFCL's default prompt format string (``DEFAULT_SYSTEM_PROMPT_FORMAT``)."""
    return _constants().DEFAULT_SYSTEM_PROMPT_FORMAT


@lru_cache(maxsize=None)
def language_hint(language: str = "python") -> str:
    """The sentence BFCL appends to every function description for ``language``, read from the
    string constants that ``bfcl_eval/utils.py``'s ``_get_language_specific_hint`` returns."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {sorted(LANGUAGES)}, got {language!r}")
    path = bfcl_package_dir() / "utils.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hints = [node.value.value for fn in ast.walk(tree)
             if isinstance(fn, ast.FunctionDef) and fn.name == "_get_language_specific_hint"
             for node in ast.walk(fn) if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant)
             and isinstance(node.value.value, str)]
    word = LANGUAGES[language]
    # "Java 8" must not match "JavaScript", nor "Java" alone the JavaScript sentence
    found = [h for h in hints if re.search(rf"\b{re.escape(word)}\b(?!Script)", h)]
    if len(found) != 1:
        raise ValueError(f"{path}: found {len(found)} language hints for {word!r} in _get_language_specific_hint")
    return found[0]


def parse_prompt_format(prompt_format: str | None = None) -> dict[str, Any]:
    """BFCL's prompt format string as ``{ret_fmt, tool_call_tag, func_doc_fmt, prompt_fmt, style}``
    (``None``: BFCL's default)."""
    text = prompt_format or default_prompt_format()
    match = _FORMAT.match(text)
    if match is None:
        raise ValueError(f"not a BFCL prompt format: {text!r} (expected e.g. {default_prompt_format()!r})")
    out: dict[str, Any] = match.groupdict()
    out["tool_call_tag"] = out["tool_call_tag"] == "True"
    return out


def prompt_format(prompt_fmt: str = "plaintext", style: str = "classic", ret_fmt: str = "python",
                  tool_call_tag: bool = False, func_doc_fmt: str = "json") -> str:
    """A BFCL prompt format string from its parts (checked by :func:`parse_prompt_format`)."""
    text = (f"ret_fmt={ret_fmt}&tool_call_tag={tool_call_tag}&func_doc_fmt={func_doc_fmt}"
            f"&prompt_fmt={prompt_fmt}&style={style}")
    parse_prompt_format(text)
    return text


#: the prompt formats of BFCL's ``format_sensitivity`` category, in its order
#: (``get_all_format_sensitivity_configs``): every return format x tag x function-document format
#: in plaintext classic prompts, then the default in markdown and in the experimental style
FORMAT_SENSITIVITY_FORMATS: tuple[str, ...] = tuple(
    [prompt_format(ret_fmt=ret, tool_call_tag=tag, func_doc_fmt=doc)
     for ret in ("python", "json", "verbose_xml", "concise_xml") for tag in (True, False)
     for doc in ("python", "xml", "json")]
    + [prompt_format(prompt_fmt="markdown"), prompt_format(style="experimental")])


#: BFCL's words for a Java/JavaScript parameter, which it asks for as a string of source code
_SOURCE_WORDS = {"java": "Java", "javascript": "JavaScript"}


def _as_source_strings(properties: dict[str, Any], language: str) -> None:
    """BFCL's rewrite of Java/JavaScript parameters (in place): every type becomes ``string`` and
    the description says which type of source the string holds, the item type of a list (its
    ``items`` dropped) and, for a JavaScript dict, the schema of its entries (``properties`` dropped)."""
    word = _SOURCE_WORDS[language]
    lists = ("ArrayList", "Array") if language == "java" else ("array",)
    for prop in properties.values():
        kind = prop["type"]
        prop["description"] += (f" This parameter can be of any type of {word} object in string representation."
                                if kind == "any" else f" This is {word} {kind} type parameter in string representation.")
        if kind in lists:
            prop["description"] += (f" The list elements are of type {prop['items']['type']}; they are not in string "
                                    "representation.")
            del prop["items"]
        if language == "javascript" and kind == "dict" and "properties" in prop:
            prop["description"] += (" The dictionary entries have the following schema; they are not in string "
                                    "representation. " + json.dumps(prop.pop("properties")))
        prop["type"] = "string"


def with_language_hint(functions: list[dict[str, Any]], language: str = "python") -> list[dict[str, Any]]:
    """A copy of ``functions`` as BFCL's data loader prepares them for ``language``: its hint
    appended to each description and, for Java and JavaScript, every parameter asked for as a
    string of source code (:func:`_as_source_strings`)."""
    hint = language_hint(language)
    out = copy.deepcopy(functions)
    for function in out:
        function["description"] = str(function.get("description", "")) + hint
        if language in _SOURCE_WORDS:
            _as_source_strings(function["parameters"]["properties"], language)
    return out


def bfcl_system_prompt(functions: list[dict[str, Any]], prompt_format: str | None = None) -> str:
    """BFCL's system prompt listing ``functions`` (taken as given: add the hint with
    :func:`with_language_hint` first, as BFCL does) in ``prompt_format`` (default: BFCL's own)."""
    fmt = parse_prompt_format(prompt_format)
    consts = _constants()
    style = consts.PROMPT_STYLE_TEMPLATES[fmt["style"]]
    call_format = style["tool_call_with_tag" if fmt["tool_call_tag"] else "tool_call_no_tag"].format(
        output_format=consts.OUTPUT_FORMAT_MAPPING[fmt["ret_fmt"]], param_types=consts.PARAM_TYPE_MAPPING[fmt["ret_fmt"]])
    tools = style["available_tools"].format(format=fmt["func_doc_fmt"],
                                            functions=function_doc(functions, fmt["func_doc_fmt"]))
    return consts.PROMPT_TEMPLATE_MAPPING[fmt["prompt_fmt"]].format(
        persona=style["persona"], task=style["task"], tool_call_format=call_format,
        multiturn_behavior=style["multiturn_behavior"], available_tools=tools)


def bfcl_messages(turn: list[dict[str, str]], functions: list[dict[str, Any]], prompt_format: str | None = None,
                  language: str | None = "python") -> list[dict[str, str]]:
    """The chat messages BFCL sends a prompt-mode model for one turn: its system prompt first (a
    system message of the turn is appended to it after a blank line, as BFCL does), then the
    turn's other messages. ``language=None`` lists ``functions`` without the language hint."""
    listed = with_language_hint(functions, language) if language else functions
    system = bfcl_system_prompt(listed, prompt_format)
    own = [m["content"] for m in turn[:1] if m.get("role") == "system"]
    if own:
        system += "\n\n" + own[0]
    rest = turn[1:] if own else turn
    return [{"role": "system", "content": system}] + [{"role": m["role"], "content": m["content"]} for m in rest]
