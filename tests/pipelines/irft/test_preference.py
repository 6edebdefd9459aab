"""Pairs from search trees: best vs worst child at a node, the whole-answer pair, the filters."""

import pytest

from toolace_kedro.pipelines.irft.preference import answer_pair, pair_filter, step_pairs, word_overlap

PARAMS = {"min_value_gap": 0.1, "max_word_overlap": 0.95, "min_chosen_value": -0.3}


def _tree(values=(1.0, 0.2, -0.6), answers=None):
    """A root with three children; child i has one rollout answering ``answers[i]``."""
    answers = answers or ['[f(a=1)]', '[f(a=2)]', '[g(a=1)]']
    steps = ["[f(a=", "[f(a=", "[g("]
    nodes = [{"id": 0, "parent": None, "depth": 0, "prefix": "", "step": "", "value": sum(values) / 3,
              "children": [1, 2, 3], "rollouts": [0, 1, 2]}]
    for i, value in enumerate(values):
        nodes.append({"id": i + 1, "parent": 0, "depth": 1, "prefix": steps[i], "step": steps[i] + str(i),
                      "value": value, "children": [], "rollouts": [i]})
    rollouts = [{"answer": a, "reward": v, "finished": True} for a, v in zip(answers, values)]
    target = {"id": "s1", "kind": "tool_call", "context": [{"role": "user", "content": "hi"}],
              "answer": "[f(a=1)]", "calls": [{"name": "f", "arguments": {"a": 1}}]}
    return {"id": "s1", "target": target, "truth_reward": 1.0, "nodes": nodes, "rollouts": rollouts}


def test_step_pair_is_best_versus_worst_child_with_the_same_prefix():
    pairs, dropped = step_pairs(_tree(), PARAMS)
    assert len(pairs) == 1 and not dropped
    pair = pairs[0]
    assert (pair["chosen"], pair["rejected"]) == ("[f(a=1)]", "[g(a=1)]")
    assert (pair["chosen_value"], pair["rejected_value"], pair["value_gap"]) == (1.0, -0.6, 1.6)
    assert pair["prefix"] == "" and pair["prompt"] == [{"role": "user", "content": "hi"}]
    assert pair["sample_id"] == "s1" and pair["kind"] == "step"


@pytest.mark.parametrize(("values", "answers", "reason"), [
    ((0.5, 0.45, 0.42), None, "value_gap"),                                    # gap 0.08 < 0.1
    ((1.0, 0.2, -0.6), ["call f now", "x", "call f now"], "word_overlap"),    # same words
    ((-0.35, -0.5, -0.9), None, "chosen_value"),                               # chosen below -0.3
])
def test_filters_drop_pairs(values, answers, reason):
    pairs, dropped = step_pairs(_tree(values, answers), PARAMS)
    assert pairs == [] and dropped == {reason: 1}


def test_pair_filter_boundaries():
    assert pair_filter(0.2, 0.1, 0.95, PARAMS) is None  # gap exactly 0.1, overlap exactly 0.95
    assert pair_filter(-0.3, -1.0, 0.0, PARAMS) is None
    assert pair_filter(0.2, 0.15, 0.0, PARAMS) == "value_gap"


def test_answer_pair_is_ground_truth_versus_worst_answer():
    pair, reason = answer_pair(_tree(), PARAMS)
    assert reason is None
    assert (pair["chosen"], pair["rejected"], pair["kind"]) == ("[f(a=1)]", "[g(a=1)]", "answer")
    assert pair["chosen_value"] == 1.0 and pair["rejected_value"] == -0.6


def test_answer_pair_skipped_when_the_policy_is_always_right():
    pair, reason = answer_pair(_tree(values=(1.0, 1.0, 1.0), answers=["[f(a=1)]"] * 3), PARAMS)
    assert pair is None and reason == "value_gap"


def test_word_overlap():
    assert word_overlap("a b c", "a b c") == 1.0
    assert word_overlap("a b", "c d") == 0.0
    assert word_overlap("a a b", "a b") == pytest.approx(2 / 3)
    assert word_overlap("", "") == 1.0


def test_decision_pair_opposes_the_truth_with_the_other_decision():
    from toolace_kedro.pipelines.irft.preference import decision_pair
    from toolace_kedro.pipelines.irft.reward import build_reward

    target = {"id": "s1", "kind": "tool_call", "context": [], "answer": '[get_weather(city="Paris")]',
              "calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}],
              "contrast": {"id": "s2", "answer": "None of the tools can tell you that."}}
    tree = {"id": "s1", "target": target, "truth_reward": 1.0}
    pair, reason = decision_pair(tree, {}, build_reward("match", target))
    assert reason is None and pair["kind"] == "decision" and pair["contrast_id"] == "s2"
    assert pair["chosen"] == target["answer"] and pair["rejected"] == target["contrast"]["answer"]
    assert pair["chosen_value"] - pair["rejected_value"] >= 0.1
    # the policy already declined: its own policy pair opposes the two decisions
    tree["target"] = {**target, "failure": "declined"}
    assert decision_pair(tree, {}, build_reward("match", target)) == (None, "policy_pair_decides")
    tree["target"] = {k: v for k, v in target.items() if k != "contrast"}
    assert decision_pair(tree, {}, build_reward("match", target)) == (None, "no_contrast")


def test_pair_node_gives_the_same_pairs_from_the_typed_parameters_as_from_the_dict():
    from tests.pipelines.irft.conftest import base_params
    from toolace_kedro.pipelines.irft.config import IrftParams
    from toolace_kedro.pipelines.irft.nodes import build_preference_pairs

    params = base_params()
    trees = [_tree(), _tree(values=(0.5, 0.45, 0.4))]
    from_dict = build_preference_pairs(trees, params)
    assert from_dict[0] and build_preference_pairs(trees, IrftParams.of(params)) == from_dict
