"""The evaluation's BFCL prompt equals what bfcl-eval's own code sends a prompt-mode model."""

from __future__ import annotations

import copy
import random

import pytest

from tests.pipelines.evaluation.conftest import AGREEMENT
from toolace_kedro.pipelines.evaluation.bfcl import CATEGORIES, load_category
from toolace_kedro.pipelines.evaluation.items import bfcl_messages
from toolace_kedro.toolcalls.bfcl_prompt import (
    FORMAT_SENSITIVITY_FORMATS,
    bfcl_system_prompt,
    with_language_hint,
)

#: seeded entries compared per category, besides every entry whose first turn has a system message
PER_CATEGORY = 12


def _entries(category: str) -> list[dict]:
    entries = load_category(category)
    chosen = random.Random(f"prompt:{category}").sample(entries, min(PER_CATEGORY, len(entries)))
    with_system = [e for e in entries if e["question"][0] and e["question"][0][0]["role"] == "system"]
    return chosen + with_system


@pytest.mark.parametrize("category", CATEGORIES)
def test_bfcl_prompt_is_bfcls_own(official_bfcl, category):
    for entry in _entries(category):
        before = copy.deepcopy(entry)
        assert bfcl_messages(entry, "bfcl") == official_bfcl.messages(entry, category), entry["id"]
        assert entry == before  # the entry is not modified (BFCL's code edits in place)


def test_an_entry_with_its_own_system_message(official_bfcl):
    """Categories without such entries get a synthetic one: BFCL appends it after a blank line."""
    entry = copy.deepcopy(load_category("simple_python")[0])
    entry["question"][0] = [{"role": "system", "content": "Answer tersely."}] + entry["question"][0]
    ours = bfcl_messages(entry, "bfcl")
    assert ours == official_bfcl.messages(entry, "simple_python")
    assert ours[0]["content"].endswith("\n\nAnswer tersely.") and [m["role"] for m in ours] == ["system", "user"]
    real = sum(e["question"][0][0]["role"] == "system" for c in CATEGORIES for e in load_category(c))
    assert real > 0  # live categories hold real ones, compared by the test above


@pytest.mark.parametrize("prompt_format", [
    "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic",
    "ret_fmt=python&tool_call_tag=True&func_doc_fmt=json&prompt_fmt=markdown&style=classic",
    "ret_fmt=json&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=experimental",
    "ret_fmt=verbose_xml&tool_call_tag=True&func_doc_fmt=json&prompt_fmt=markdown&style=experimental",
    "ret_fmt=concise_xml&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=markdown&style=classic",
])
def test_format_variants_match_bfcl(official_bfcl, prompt_format):
    functions = with_language_hint(load_category("multiple")[3]["function"])
    assert bfcl_system_prompt(functions, prompt_format) == official_bfcl.system_prompt(functions, prompt_format)


def test_format_sensitivity_entries_are_bfcls(official_bfcl):
    """The same 5,200 ids in the same order, the same functions, questions and answers."""
    ours = load_category("format_sensitivity")
    entries, truths = official_bfcl.format_sensitivity()
    assert [e["id"] for e in ours] == [e["id"] for e in entries] and len(ours) == 5200
    assert [e["possible_answer"] for e in ours] == [t["ground_truth"] for t in truths]
    assert all(e["source_id"] == t["id"] == e["id"].split(":")[-1] for e, t in zip(ours, truths))
    assert [e["format"] for e in ours[:26]] == list(FORMAT_SENSITIVITY_FORMATS) == \
        official_bfcl.utils.get_all_format_sensitivity_configs()
    assert all(e["question"] == b["question"] for e, b in zip(ours, entries))


def test_format_sensitivity_prompts_are_bfcls(official_bfcl):
    """Every item: the 200 entries in all 26 formats (python, xml and json function documents)."""
    ours = load_category("format_sensitivity")
    entries, _ = official_bfcl.format_sensitivity()
    for entry, reference in zip(ours, entries):
        before = copy.deepcopy(entry)
        assert bfcl_messages(entry, "bfcl") == official_bfcl.format_messages(reference), entry["id"]
        assert entry == before
    AGREEMENT["prompts[format_sensitivity]"] = len(ours)
    with pytest.raises(ValueError, match="format_sensitivity items are asked with BFCL's prompt"):
        bfcl_messages(ours[0], "training")


@pytest.mark.parametrize("doc_format", ["python", "xml"])
def test_function_documents_match_bfcl_on_odd_schemas(official_bfcl, doc_format):
    """Defaults with commas, enums, nested objects with and without ``required``, typed and untyped
    items, additionalProperties, missing types and descriptions, no parameters at all."""
    functions = [
        {"name": "a.b", "description": "Top, level.", "parameters": {"type": "dict", "properties": {
            "x": {"type": "array", "items": {"type": "tuple", "items": {"type": "integer"}}, "default": [1, 2]},
            "y": {"type": "dict", "description": "nested", "required": ["p"], "properties": {
                "p": {"type": "string", "enum": ["u", "v"], "description": "pe"},
                "q": {"type": "dict", "properties": {"r": {"type": "float", "default": 0.5}}}}},
            "z": {"type": "object", "additionalProperties": {"type": "number"}},
            "w": {}, "v": {"type": "any", "items": {}}}, "required": ["y"]}},
        {"name": "no_params", "parameters": {"type": "dict", "properties": {}}},
        {"name": "no_required", "description": "", "parameters": {"type": "dict", "properties": {
            "s": {"type": "boolean", "description": "flag", "default": None}}}}]
    prompt_format = f"ret_fmt=json&tool_call_tag=True&func_doc_fmt={doc_format}&prompt_fmt=plaintext&style=classic"
    assert bfcl_system_prompt(functions, prompt_format) == official_bfcl.system_prompt(functions, prompt_format)


def test_training_prompt_is_the_sft_format():
    from toolace_kedro.toolcalls import system_prompt

    entry = next(e for e in load_category("live_simple") if e["question"][0][0]["role"] == "system")
    messages = bfcl_messages(entry, "training")
    own = entry["question"][0][0]["content"]
    assert messages[0] == {"role": "system", "content": system_prompt(entry["function"], "python") + "\n" + own}
    assert [m["role"] for m in messages[1:]] == [m["role"] for m in entry["question"][0][1:]]
    with pytest.raises(ValueError, match="evaluation.prompt must be one of"):
        bfcl_messages(entry, "chatml")
