"""BFCL scoring: data loading, and verdicts compared with the official checker on generated outputs."""

from __future__ import annotations

import builtins
import json
import random
from collections import Counter

import pytest

from tests.pipelines.evaluation.bfcl_cases import ast_cases, raw_cases, relevance_cases, render, same
from tests.pipelines.evaluation.conftest import AGREEMENT, FC_MODEL
from toolace_kedro.datasets.bfcl_data import LANGUAGE_OF
from toolace_kedro.pipelines.evaluation.bfcl import (
    CATEGORIES,
    RELEVANCE_CATEGORIES,
    DecodeError,
    Unevaluated,
    bfcl_data_dir,
    check_output,
    decode_output,
    load_category,
    score_category,
    score_output,
)

# BFCL's decoder parses model strings such as "\d" and warns; ours silences that warning itself
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence")

#: Entries per category in bfcl-eval 2026.3.23 (BFCL v4).
SIZES = {"simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200, "parallel_multiple": 200, "irrelevance": 240,
         "live_simple": 258, "live_multiple": 1053, "live_parallel": 16, "live_parallel_multiple": 24,
         "live_irrelevance": 884, "live_relevance": 16}
#: Entries compared per category (all of the small ones), and the seed of the sample and the outputs.
SAMPLE, SEED = 60, 8


# --------------------------------------------------------------------------- data
def test_categories_are_the_wheels_files():
    root = bfcl_data_dir()
    assert set(CATEGORIES) == set(SIZES)
    for category in CATEGORIES:
        assert (root / f"BFCL_v4_{category}.json").is_file()
        has_answers = (root / "possible_answer" / f"BFCL_v4_{category}.json").is_file()
        assert has_answers == (category not in RELEVANCE_CATEGORIES)
        entries = load_category(category)
        assert len(entries) == SIZES[category]
        assert all((e["possible_answer"] is None) == (category in RELEVANCE_CATEGORIES) for e in entries)


def test_seeded_sample_keeps_file_order():
    full = [e["id"] for e in load_category("live_multiple")]
    sample = [e["id"] for e in load_category("live_multiple", sample_size=50, seed=3)]
    assert sample == [e["id"] for e in load_category("live_multiple", sample_size=50, seed=3)]
    assert len(sample) == 50 and sample == sorted(sample, key=full.index)
    assert sample != [e["id"] for e in load_category("live_multiple", sample_size=50, seed=4)]
    assert len(load_category("live_parallel", sample_size=100)) == 16


def test_missing_data_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="BFCL_v4_simple_python.json"):
        load_category("simple_python", data_dir=tmp_path)
    (tmp_path / "BFCL_v4_parallel.json").write_text(json.dumps({"id": "p0", "question": [], "function": []}) + "\n")
    with pytest.raises(FileNotFoundError, match="possible_answer"):
        load_category("parallel", data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown BFCL category 'simple_rust'"):
        load_category("simple_rust")


# --------------------------------------------------------------------------- agreement with bfcl-eval
def _compare(official, category: str, entry: dict, kind: str, output: str, stats, mismatches) -> None:
    answer = entry["possible_answer"]
    ours, reason = check_output(category, entry, answer, output)
    reference = official.verdict(category, entry, answer, output)
    stats["outputs"] += 1
    stats[f"ours_{'pass' if ours else 'fail'}"] += 1
    if reference.valid is None:  # the official checker raises: the leaderboard run would crash
        stats["official_raised"] += 1
        if ours:
            mismatches.append((entry["id"], kind, output, "official raised, ours passed", reason))
        return
    if reference.used_eval:  # BFCL evaluated part of the output; we never do
        stats["official_used_eval"] += 1
        opaque = official.verdict(category, entry, answer, output, evaluate=False)
        if ours != opaque.valid:
            mismatches.append((entry["id"], kind, output, f"official with opaque eval {opaque.valid}", reason))
        if ours != reference.valid:
            stats["differ_only_by_eval"] += 1
        return
    if ours != reference.valid:
        mismatches.append((entry["id"], kind, output, f"official {reference.valid}", reason))
    if reference.decoded is None:
        with pytest.raises(DecodeError):
            decode_output(output)
    elif not same(decode_output(output), reference.decoded):
        mismatches.append((entry["id"], kind, output, "decoded forms differ", reason))
    stats["agree"] += 1


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c not in LANGUAGE_OF])  # Java/JS: test_bfcl_java_js
def test_verdicts_agree_with_the_official_checker(official_bfcl, category):
    rng = random.Random(f"{SEED}-{category}")
    entries = load_category(category, sample_size=SAMPLE, seed=SEED)
    snapshot = json.dumps(entries, sort_keys=True)
    stats, mismatches = Counter(), []
    for entry in entries:
        cases = relevance_cases(entry, rng) if entry["possible_answer"] is None else ast_cases(
            entry, entry["possible_answer"], rng) + raw_cases()
        for kind, output in cases:
            _compare(official_bfcl, category, entry, kind, output, stats, mismatches)
    assert json.dumps(entries, sort_keys=True) == snapshot, "a checker mutated the entries"
    for key, value in stats.items():
        AGREEMENT[key] += value
    AGREEMENT[f"outputs[{category}]"] = stats["outputs"]
    assert not mismatches, f"{len(mismatches)} disagreements, e.g. " + "\n".join(map(repr, mismatches[:8]))
    # the generated outputs exercise both verdicts in every category
    assert stats["ours_pass"] >= 0.05 * stats["outputs"] and stats["ours_fail"] >= 0.3 * stats["outputs"]


def test_fc_name_conversion_agrees(official_bfcl):
    """FC-mode models with ``underscore_to_dot`` expect ``math.factorial`` as ``math_factorial``."""
    rng, compared, passed = random.Random(SEED), 0, set()
    for entry in load_category("simple_python"):
        (name, params), = entry["possible_answer"][0].items()
        if "." not in name:
            continue
        args = {p: next(a for a in allowed if a != "") for p, allowed in params.items() if allowed != [""]}
        for variant in (name, name.replace(".", "_")):
            output = render([(variant, args)], wrap=rng.choice(["brackets", "bare"]))
            reference = official_bfcl.verdict("simple_python", entry, entry["possible_answer"], output,
                                              model_name=FC_MODEL)
            assert score_output("simple_python", entry, entry["possible_answer"], output,
                                underscore_to_dot=True) == reference.valid, output
            passed.add((variant == name, reference.valid))
            compared += 1
    assert compared > 100 and passed == {(True, False), (False, True), (False, False)}
    AGREEMENT["outputs[fc_name_conversion]"] = compared


# --------------------------------------------------------------------------- behaviour, without the reference
@pytest.fixture
def triangle():
    entry = load_category("simple_python", sample_size=None)[0]
    assert entry["id"] == "simple_python_0"
    return entry


def test_decoding_rules():
    assert decode_output("```\n[f(a=1)]\n```") == [{"f": {"a": 1}}]
    assert decode_output("f(a=1), g.h(b='x')") == [{"f": {"a": 1}}, {"g.h": {"b": "x"}}]
    assert decode_output("") == [] and decode_output("[]") == []
    assert decode_output("[f(1, a=(1, 2), b=London, c=g(), d=h(x=1), e=z[0], f=+5)]") == [
        {"f": {"a": (1, 2), "b": "London", "c": "g()", "d": {"h": {"x": 1}}, "e": "z[0]", "f": -5}}]
    (call,) = decode_output("[f(a=2*3, b=[x + 1])]")
    assert isinstance(call["f"]["a"], Unevaluated) and call["f"]["a"].source == "2 * 3"
    assert call["f"]["a"] != call["f"]["a"].source and isinstance(call["f"]["b"][0], Unevaluated)
    for text in ("```python\n[f(a=1)]\n```", "[f(a=lambda: 0)]", "[f(a={1, 2})]", "Sorry, no.",
                 "[f(a=math.pi)]", "[f(a=-'x')]", '[{"name": "f", "arguments": {}}]'):
        with pytest.raises(DecodeError):
            decode_output(text)
    with pytest.raises(DecodeError, match="nested too deeply|recursion"):
        decode_output("[f(a=" + "1+" * 50000 + "1)]")


def test_model_output_is_never_evaluated(monkeypatch, triangle):
    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec called on model output")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    outputs = ["[calculate_triangle_area(base=5*2, height=5)]", "[calculate_triangle_area(base=__import__('os'))]",
               "[calculate_triangle_area(base=(lambda: 10)(), height=5)]", "[calculate_triangle_area(base=10, height=5)]"]
    assert [score_output("simple_python", triangle, triangle["possible_answer"], o) for o in outputs] == [
        False, False, False, True]


def test_a_list_of_the_wrong_item_type_is_named_as_such():
    entry = {"id": "simple_python_82", "function": [{"name": "calculate_average", "parameters": {
        "type": "dict", "properties": {"numbers": {"type": "array", "items": {"type": "float"}}}, "required": ["numbers"]}}]}
    answer = {"id": "simple_python_82", "ground_truth": [{"calculate_average": {"numbers": [[12.0, 15.0]]}}]}
    assert check_output("simple_python", entry, answer, "[calculate_average(numbers=[12, 15])]")[1] == (
        "type_error: 'numbers' expects array of float, got list [12, 15]")
    assert check_output("simple_python", entry, answer, "[calculate_average(numbers=[12.0, 15.0])]") == (True, "ok")


def test_reasons_and_relevance(triangle):
    answer = triangle["possible_answer"]
    assert check_output("simple_python", triangle, answer, "[calculate_triangle_area(base=10, height=5)]") == (True, "ok")
    assert check_output("simple_python", triangle, answer, "[calculate_triangle_area(base=10, height=5.0)]")[1].startswith(
        "type_error")
    assert check_output("simple_python", triangle, answer, "[calculate_triangle_area(base=10)]")[1].startswith(
        "missing_required")
    assert check_output("simple_python", triangle, answer,
                        "[calculate_triangle_area(base=10, height=5, unit='Units')]") == (True, "ok")
    assert check_output("simple_python", triangle, answer, "[area(base=10, height=5)]")[1].startswith("wrong_func_name")
    assert check_output("simple_python", triangle, answer, "[calculate_triangle_area(base=2*5, height=5)]")[1].startswith(
        "unevaluated")  # BFCL evaluates 2*5 and passes it: the documented difference
    # irrelevance: only a decoded, non-empty call list fails; a call with arithmetic is a call
    assert score_output("irrelevance", triangle, None, "I can't compute that.")
    assert score_output("irrelevance", triangle, None, "[]")
    assert not score_output("irrelevance", triangle, None, "[calculate_triangle_area(base=1, height=2)]")
    assert not score_output("irrelevance", triangle, None, "[calculate_triangle_area(base=x*2)]")
    assert score_output("live_relevance", triangle, None, "[anything(x=1)]")
    assert not score_output("live_relevance", triangle, None, "[]")
    with pytest.raises(ValueError, match="needs its possible answer"):
        score_output("simple_python", triangle, None, "[]")
    with pytest.raises(ValueError, match="unknown BFCL category"):
        score_output("simple_rust", triangle, answer, "[]")
    broken = {**triangle, "function": [{**triangle["function"][0], "parameters": {
        "type": "dict", "required": [], "properties": {"base": {"type": "number"}}}}]}
    with pytest.raises(ValueError, match=r"simple_python_0 \(simple_python\) is malformed.*'number'"):
        score_output("simple_python", broken, answer, "[calculate_triangle_area(base=10)]")


def test_score_category_counts_failures_by_kind():
    entries = load_category("parallel", sample_size=3, seed=1)
    good = [render([(n, {p: next(a for a in v if a != "") for p, v in params.items() if v != [""]})
                    for n, params in (next(iter(c.items())) for c in e["possible_answer"])][::-1]) for e in entries]
    report = score_category("parallel", entries, [good[0], "[]", "no calls here"])
    assert report["n"] == 3 and report["correct"] == 1
    assert report["failures"] == {"decode_failed": 1, "wrong_count": 1}
    assert report["accuracy"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 outputs for 3 entries"):
        score_category("parallel", entries, good[:2])
