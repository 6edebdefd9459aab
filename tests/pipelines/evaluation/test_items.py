"""Which BFCL items are asked: per-category sample sizes (validated) and the seeded subsets."""

from __future__ import annotations

import pytest

from toolace_kedro.pipelines.evaluation.items import prompt_description, sample_sizes, seeded_subset

CATS = ["simple_python", "irrelevance", "live_simple"]


def test_an_int_or_null_applies_to_every_category():
    assert sample_sizes(3, CATS) == {c: 3 for c in CATS}
    assert sample_sizes(None, CATS) == {c: None for c in CATS}


def test_a_mapping_gives_sizes_per_category_with_a_default():
    sizes = sample_sizes({"simple_python": 40, "irrelevance": None, "default": 20, "parallel": 5}, CATS)
    assert sizes == {"simple_python": 40, "irrelevance": None, "live_simple": 20}  # parallel is not run
    assert sample_sizes({"simple_python": 1, "irrelevance": 2, "live_simple": 3}, CATS)["live_simple"] == 3


@pytest.mark.parametrize("value, message", [
    (-1, r"evaluation.bfcl.sample_size must be a non-negative integer or null"),
    (True, r"evaluation.bfcl.sample_size must be"),
    ("40", r"evaluation.bfcl.sample_size must be"),
    ({"simple_pyton": 4, "default": 2}, r"evaluation.bfcl.sample_size.simple_pyton: not a BFCL category nor 'default'"),
    ({"irrelevance": 2.5, "default": 2}, r"evaluation.bfcl.sample_size.irrelevance must be a non-negative integer"),
    ({"default": -3}, r"evaluation.bfcl.sample_size.default must be"),
    ({"simple_python": 4}, r"evaluation.bfcl.sample_size.irrelevance: no size for this category and no "
                           r"'evaluation.bfcl.sample_size.default'"),
])
def test_bad_sizes_name_the_key(value, message):
    with pytest.raises(ValueError, match=message):
        sample_sizes(value, CATS)


def test_seeded_subsets_are_nested_in_file_order_and_per_category():
    entries = [{"id": i} for i in range(100)]
    twenty, forty = seeded_subset(entries, 20, 0, "parallel"), seeded_subset(entries, 40, 0, "parallel")
    ids = [e["id"] for e in forty]
    assert len(twenty) == 20 and len(forty) == 40 and ids == sorted(ids)
    assert {e["id"] for e in twenty} <= set(ids)  # a larger n keeps the smaller n's items
    assert seeded_subset(entries, 20, 0, "parallel") == twenty  # deterministic
    assert seeded_subset(entries, 20, 0, "multiple") != twenty  # each category its own draw
    assert seeded_subset(entries, 20, 1, "parallel") != twenty
    assert seeded_subset(entries, None, 0, "parallel") == entries == seeded_subset(entries, 500, 0, "parallel")
    assert seeded_subset(entries, 0, 0, "parallel") == []


def test_prompt_description_names_bfcls_format_string():
    assert "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic" in \
        prompt_description("bfcl")
    assert "training" in prompt_description("training")
    with pytest.raises(ValueError, match="evaluation.prompt"):
        prompt_description("other")


def test_format_sensitivity_subsets_take_whole_entries_in_a_nested_order():
    entries = [{"id": f"format_sensitivity_{26 * e + f}:fmt{f}:src{e}", "source_id": f"src{e}"}
               for e in range(20) for f in range(26)]
    subsets = {n: seeded_subset(entries, n, 0, "format_sensitivity") for n in (2, 26, 52, 60)}
    for n, subset in subsets.items():
        ids = [e["id"] for e in subset]
        assert len(subset) == n and ids == sorted(ids, key=lambda i: int(i.split(":")[0].rsplit("_", 1)[1]))
    assert len({e["source_id"] for e in subsets[52]}) == 2  # two whole entries, all 26 formats each
    assert {e["source_id"] for e in subsets[2]} <= {e["source_id"] for e in subsets[26]}
    assert all({e["id"] for e in subsets[a]} <= {e["id"] for e in subsets[b]} for a, b in ((2, 26), (26, 52), (52, 60)))
    assert seeded_subset(entries, 52, 1, "format_sensitivity") != subsets[52]
