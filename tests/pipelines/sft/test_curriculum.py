"""Easy-to-hard stages and the difficulty measure."""

import math

import pytest

from toolace_kedro.models import load_policy
from toolace_kedro.models.scoring import assistant_nll
from toolace_kedro.pipelines.sft.curriculum import difficulty_scores, split_stages, stages_of
from toolace_kedro.toolcalls import training_messages


def test_stages_run_from_easy_to_hard_with_balanced_sizes():
    samples = [{"id": i} for i in range(7)]
    scores = [0.9, 0.1, 0.5, 0.3, float("nan"), 0.7, 0.2]
    stages = split_stages(samples, scores, 3)
    assert [[s["id"] for s in stage] for stage in stages] == [[1, 6, 3], [2, 5], [0, 4]]  # NaN last


def test_more_stages_than_samples_and_the_shuffled_ablation():
    samples = [{"id": i} for i in range(5)]
    assert [len(s) for s in split_stages(samples[:2], [1.0, 0.0], 3)] == [1, 1]
    shuffled = split_stages(samples, [0.0] * 5, 3, curriculum=False, seed=1)
    assert len(shuffled) == 1 and sorted(s["id"] for s in shuffled[0]) == list(range(5))
    assert shuffled == split_stages(samples, [0.0] * 5, 3, curriculum=False, seed=1)
    assert [s["id"] for s in shuffled[0]] != [s["id"] for s in split_stages(samples, [0.0] * 5, 3, False, 2)[0]]
    with pytest.raises(ValueError, match="5 samples but 4 scores"):
        split_stages(samples, [0.0] * 4, 2)


def test_difficulty_is_the_assistant_nll_of_the_scoring_module(tiny_model_dir, sft_dialogs):
    model, tokenizer = load_policy(tiny_model_dir, cached=False)
    tokenizer.padding_side = "right"
    ours = difficulty_scores(sft_dialogs[:5], model, tokenizer, batch_size=2)
    direct = assistant_nll(model, tokenizer, [training_messages(d) for d in sft_dialogs[:5]], batch_size=5)
    assert all(math.isfinite(x) for x in ours) and ours == pytest.approx(direct, rel=1e-4)


def test_stages_of_groups_in_stage_order_and_names_bad_records():
    curriculum = [{"id": "a", "meta": {"curriculum_stage": 2}}, {"id": "b", "meta": {"curriculum_stage": 1}},
                  {"id": "c", "meta": {"curriculum_stage": 2}}]
    assert [[s["id"] for s in st] for st in stages_of(curriculum)] == [["b"], ["a", "c"]]
    with pytest.raises(ValueError, match="dialog 'x': meta.curriculum_stage"):
        stages_of([{"id": "x", "meta": {}}])


def test_stratified_stages_hold_each_type_in_proportion_easy_to_hard_within_it():
    samples = [{"id": i, "type": "non_tool" if i % 3 == 0 else "single"} for i in range(12)]
    scores = [float(12 - i) for i in range(12)]  # later ids are easier
    stages = split_stages(samples, scores, 3, strata=[s["type"] for s in samples])
    assert sorted(sum(s["type"] == "non_tool" for s in stage) for stage in stages) == [1, 1, 2]
    assert [len(stage) for stage in stages] == [4, 4, 4]  # remainders go to the smaller stages
    for kind in ("single", "non_tool"):
        seen = [s["id"] for stage in stages for s in stage if s["type"] == kind]
        assert seen == sorted(seen, reverse=True)
    with pytest.raises(ValueError, match="strata"):
        split_stages(samples, scores, 3, strata=["single"])
