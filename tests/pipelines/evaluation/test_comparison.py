"""Intervals, pooled groups and paired comparisons of the evaluation (toolace_kedro.stats inside)."""

from __future__ import annotations

import pytest

from toolace_kedro.pipelines.evaluation.comparison import interval, paired_comparisons, pooled_groups, scopes


def _verdicts(pattern: dict[str, str], kind: str | None = None) -> list[dict]:
    """``{category: "1100..."}`` -> per-item verdicts (ids ``<category>_<i>``)."""
    out = []
    for category, bits in pattern.items():
        for i, bit in enumerate(bits):
            source = "synthetic" if category.startswith("synthetic") else "bfcl"
            verdict = {"id": f"{category}_{i}", "source": source, "category": category, "correct": bit == "1"}
            if source == "synthetic":
                verdict["kind"] = kind or ("call" if category == "synthetic_call" else "no_call")
            out.append(verdict)
    return out


def test_interval_of_a_count():
    c = interval(0, 40)
    assert (c["n"], c["correct"], c["accuracy"], c["ci_low"]) == (40, 0, 0.0, 0.0)
    assert c["ci_high"] == pytest.approx(0.0876, abs=1e-4)
    assert interval(0, 0)["accuracy"] is None and (interval(0, 0)["ci_low"], interval(0, 0)["ci_high"]) == (0.0, 1.0)
    twelve = interval(12, 40)
    assert twelve["ci_low"] < 0.3 < twelve["ci_high"] and twelve["ci_low"] == pytest.approx(0.1807, abs=1e-4)
    assert twelve["ci_high"] == pytest.approx(0.4543, abs=1e-4)


def test_groups_pool_their_categories_items():
    bfcl = {"simple_python": interval(10, 40), "multiple": interval(5, 20), "irrelevance": interval(40, 40),
            "live_irrelevance": interval(10, 20), "live_simple": interval(4, 40)}
    groups = pooled_groups(bfcl)
    assert set(groups) == {"non_live", "live", "irrelevance", "overall"}  # relevance: not run
    assert (groups["non_live"]["correct"], groups["non_live"]["n"]) == (15, 60)
    assert groups["irrelevance"]["accuracy"] == 50 / 60
    assert (groups["overall"]["correct"], groups["overall"]["n"]) == (69, 160)
    assert groups["live"]["categories"] == ["live_simple"]
    java = pooled_groups({**bfcl, "simple_javascript": interval(1, 10)})["non_live"]
    assert (java["correct"], java["n"]) == (16, 70)
    assert java["categories"] == ["simple_python", "simple_javascript", "multiple"]


def test_scopes_pool_ast_and_relevance_items_and_split_synthetic_ones():
    verdicts = _verdicts({"irrelevance": "10", "simple_python": "01", "live_relevance": "1", "synthetic_call": "1",
                          "synthetic_text": "0"})
    got = scopes(verdicts)
    assert list(got) == ["simple_python", "irrelevance", "live_relevance", "bfcl_ast", "bfcl_relevance",
                         "synthetic_exact_call", "synthetic_no_call"]
    assert len(got["bfcl_relevance"]) == 3 and len(got["bfcl_ast"]) == 2


def test_paired_comparisons_of_the_policies_present():
    base = _verdicts({"simple_python": "0" * 40, "irrelevance": "1" * 40, "synthetic_call": "0000"})
    sft = _verdicts({"simple_python": "1" * 12 + "0" * 28, "irrelevance": "1" * 39 + "0", "synthetic_call": "1100"})
    result = paired_comparisons({"base": base, "sft": sft})
    assert list(result) == ["sft_vs_base"]  # no irft: only the pair present
    sp = result["sft_vs_base"]["simple_python"]
    assert (sp["n"], sp["gained"], sp["lost"], sp["verdict"]) == (40, 12, 0, "better")
    assert sp["p_value"] == pytest.approx(2 / 2 ** 12)
    irr = result["sft_vs_base"]["irrelevance"]
    assert (irr["gained"], irr["lost"], irr["p_value"], irr["verdict"]) == (0, 1, 1.0, "no significant difference")
    ast = result["sft_vs_base"]["bfcl_ast"]
    assert (ast["n"], ast["first_correct"], ast["second_correct"]) == (40, 0, 12)
    assert result["sft_vs_base"]["synthetic_exact_call"]["gained"] == 2
    # worse: the later policy loses items
    nothing = _verdicts({"simple_python": "0" * 40, "irrelevance": "0" * 40, "synthetic_call": "0000"})
    worse = paired_comparisons({"sft": base, "irft": nothing})
    assert worse["irft_vs_sft"]["irrelevance"]["verdict"] == "worse"
    three = paired_comparisons({"base": base, "sft": sft, "irft": sft})
    assert list(three) == ["sft_vs_base", "irft_vs_sft", "irft_vs_base"]
    assert three["irft_vs_sft"]["simple_python"]["p_value"] == 1.0


def test_policies_scored_on_different_items_are_not_paired():
    with pytest.raises(ValueError, match="different items"):
        paired_comparisons({"base": _verdicts({"simple_python": "01"}), "sft": _verdicts({"simple_python": "011"})})
