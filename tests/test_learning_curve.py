"""benchmarks/learning_curve.py: nested subsets and the table it prints."""

from tests._benchmarks import load_benchmark


def _module():
    return load_benchmark("learning_curve")


def test_subsets_are_nested_and_sizes_beyond_the_pool_left_out():
    curve = _module()
    train = [{"id": str(i)} for i in range(10)]
    subsets = curve.nested_subsets(train, [3, 6, 20], seed=0)
    assert sorted(subsets) == [3, 6]
    assert subsets[6][:3] == subsets[3] and len({d["id"] for d in subsets[6]}) == 6


def test_table_marks_significant_changes_against_base():
    curve = _module()
    cell = {"n": 40, "correct": 8, "low": 0.1, "high": 0.35}
    results = {"0": {"summary": {"simple_python": {**cell, "correct": 0, "low": 0.0, "high": 0.09}}},
               "80": {"summary": {"simple_python": cell}, "minutes": 4.0,
                      "versus_base": {"simple_python": {"verdict": "better"}}}}
    lines = curve.table(results).splitlines()
    assert lines[2].startswith("| 0 | 0/40 (0 %, 0–9) |")
    assert "| 80 | 8/40 (20 %, 10–35) ↑ |" in lines[3] and lines[3].endswith("| 4.0 |")


def test_benchmark_overrides_set_yaml_values_at_dotted_paths():
    module = load_benchmark("_overrides")
    params = {"training": {"epochs": 1}, "curriculum": True}
    module.apply_overrides(params, ["training.epochs=3", "curriculum=false", "training.lr=0.0001"])
    assert params == {"training": {"epochs": 3, "lr": 0.0001}, "curriculum": False}
    import pytest

    with pytest.raises(KeyError, match="no mapping at lora"):
        module.apply_overrides(params, ["lora.r=4"])


def test_evaluation_params_build_the_single_turn_items_without_multi_turn_data():
    """The curve asks BFCL's single-turn categories only: the stage's default multi-turn entry
    would need the multi-turn data, which the curve does not load."""
    from toolace_kedro.pipelines.evaluation.nodes import build_items

    curve = _module()
    entry = {"id": "simple_python_0", "question": [[{"role": "user", "content": "Area of a 3 by 4 rectangle?"}]],
             "function": [{"name": "area", "description": "Area.", "parameters": {
                 "type": "dict", "properties": {"w": {"type": "integer"}, "h": {"type": "integer"}},
                 "required": ["w", "h"]}}],
             "possible_answer": [{"area": {"w": [3], "h": [4]}}]}
    data = {c: [{**entry, "id": f"{c}_0"}] for c in curve.CATEGORIES}
    items, _ = build_items(data, [], curve.evaluation_params(40))
    assert sorted(i["category"] for i in items) == sorted(curve.CATEGORIES)


def test_a_training_seed_changes_the_training_not_the_split():
    from toolace_kedro.pipelines.sft.nodes import split_train_test

    curve = _module()
    sft = {"seed": 0, "test_fraction": 0.25, "min_test": 2}
    pool = [{"id": f"d{i}", "type": "single" if i % 2 else "non_tool", "tools": [],
             "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
            for i in range(12)]
    trainer = curve.training_params(sft, 3)
    assert trainer["seed"] == 3 and sft["seed"] == 0 and curve.training_params(sft, None) is sft
    assert split_train_test(pool, sft)[1] != split_train_test(pool, trainer)[1]  # the seed would move the split


def test_parameters_are_resolved_as_kedro_run_resolves_them():
    curve = _module()
    cache = str(curve._llm_params()["cache_dir"])
    assert "${" not in cache and cache.endswith("02_intermediate/llm_cache")
    assert curve._params("sft")["n_stages"] >= 1


def _state(results: dict, split: dict | None = None, **extra) -> dict:
    return {"pool": "p.jsonl", "pool_size": 10, "split": split or {"train": 8, "test": 2}, "sizes": "",
            "overrides": [], "train_seed": None, "results": results, **extra}


def _result(*correct: bool) -> dict:
    return {"scores": {"verdicts": [{"id": f"i{k}", "correct": c} for k, c in enumerate(correct)]}, "summary": {}}


def test_lanes_merge_into_one_curve_and_a_lane_of_another_curve_is_refused():
    import pytest

    curve = _module()
    base = _result(False, True)
    merged = curve.merge_states([_state({"0": base, "50": _result(True, True)}),
                                 _state({"0": base, "25": _result(True, False)})], ["a.json", "b.json"])
    assert sorted(merged["results"], key=int) == ["0", "25", "50"] and merged["sizes"] == "25,50"
    with pytest.raises(SystemExit, match="b.json: its train_seed differs"):
        curve.merge_states([_state({"0": base}), _state({"0": base}, train_seed=1)], ["a.json", "b.json"])
    with pytest.raises(SystemExit, match="b.json: size 0 was scored differently"):
        curve.merge_states([_state({"0": base}), _state({"0": _result(True, True)})], ["a.json", "b.json"])


def test_base_is_taken_from_another_lane_only_on_the_same_split_and_items():
    import pytest

    curve = _module()
    base = _result(False, True)
    items = [{"id": "i0"}, {"id": "i1"}]
    state = _state({"0": base})
    assert curve.base_from(state, "a.json", state["split"], items) is base
    with pytest.raises(SystemExit, match="another split"):
        curve.base_from(state, "a.json", {"train": 7, "test": 3}, items)
    with pytest.raises(SystemExit, match="other items"):
        curve.base_from(state, "a.json", state["split"], items[:1])
    with pytest.raises(SystemExit, match="no base result"):
        curve.base_from(_state({}), "a.json", state["split"], items)
