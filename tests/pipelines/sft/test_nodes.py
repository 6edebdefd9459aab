"""The sft nodes, called directly on the tiny model."""

from collections import Counter

import pytest
import torch
from peft import PeftModel

from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.nodes import merge_sft_adapter, order_curriculum, split_train_test, train_sft


def test_split_is_stratified_seeded_and_disjoint(sft_dialogs, sft_params):
    train, test, report = split_train_test(sft_dialogs, sft_params)
    assert Counter(d["type"] for d in test) == {"single": 1, "parallel": 1, "non_tool": 1, "clarify": 1}
    assert len(train) == 12 and {d["id"] for d in train} | {d["id"] for d in test} == {d["id"] for d in sft_dialogs}
    assert not {d["id"] for d in train} & {d["id"] for d in test}
    assert split_train_test(sft_dialogs, sft_params)[:2] == (train, test)
    other = split_train_test(sft_dialogs, {**sft_params, "seed": 7})[1]
    assert {d["id"] for d in other} != {d["id"] for d in test}
    assert (report["train"], report["test"], report["types"]["single"]) == (12, 4, {"train": 3, "test": 1})
    assert report["skipped_input"]["verified_dialogs"]["skipped"] == 0


def test_split_keeps_one_per_type_for_training_and_skips_broken_dialogs(sft_dialogs, sft_params, caplog):
    broken = {"id": "bad", "type": "single", "tools": [], "messages": [{"role": "assistant", "content": "hi"}]}
    train, test, _ = split_train_test([sft_dialogs[0], broken], {**sft_params, "test_fraction": 0.9})
    assert train == [sft_dialogs[0]] and test == []
    assert "verified_dialogs[1] (id 'bad'): not_canonical: messages: List should have at least 2 items" in caplog.text
    with pytest.raises(ValueError, match=r"^verified_dialogs: no usable record \(1 skipped \{'not_canonical': 1\}"):
        split_train_test([broken], sft_params)


def test_non_canonical_lines_of_verified_dialogs_are_skipped_with_file_and_line(sft_dialogs, sft_params, tmp_path):
    import json

    from toolace_kedro.datasets import JSONLinesDataset

    path = tmp_path / "verified_dialogs.jsonl"
    no_tools = {k: v for k, v in sft_dialogs[1].items() if k != "tools"}
    path.write_text("\n".join([json.dumps(sft_dialogs[0]), "}{", json.dumps(no_tools), json.dumps("text"),
                               *map(json.dumps, sft_dialogs[2:6])]) + "\n")
    train, test, report = split_train_test(JSONLinesDataset(filepath=str(path)).load(), sft_params)
    assert len(train) + len(test) == 5
    block = report["skipped_input"]["verified_dialogs"]
    assert (block["source"], block["records"], block["skipped"]) == (str(path), 8, 3)
    assert block["by_reason"] == {"bad_json": 2, "not_canonical": 1}  # (a JSON string is not an object)
    assert block["examples"][2] == f"{path}:3 (id '{no_tools['id']}'): not_canonical: tools: Field required"


def test_curriculum_orders_by_policy_nll(sft_dialogs, sft_params):
    curriculum = order_curriculum(sft_dialogs, sft_params)
    assert sorted(d["id"] for d in curriculum) == sorted(d["id"] for d in sft_dialogs)
    stages = [d["meta"]["curriculum_stage"] for d in curriculum]
    assert stages == sorted(stages) and set(stages) == {1, 2}
    for kind in {d["type"] for d in curriculum}:  # stratified (default): easy-to-hard within each type
        scores = [d["meta"]["difficulty"] for d in curriculum if d["type"] == kind]
        assert scores == sorted(scores), kind
    assert all(d["meta"]["difficulty_source"] == f"policy:{sft_params['policy_model']}" for d in curriculum)
    # meta.complexity of the generator is not the difficulty under this policy
    assert [d["meta"]["difficulty"] for d in curriculum] != [d["meta"]["complexity"] for d in curriculum]
    assert "curriculum_stage" not in sft_dialogs[0]["meta"]  # inputs untouched


def test_meta_difficulty_and_the_shuffled_ablation_load_no_model(sft_dialogs, sft_params):
    params = {**sft_params, "policy_model": "/nonexistent/model", "difficulty": "meta", "n_stages": 4}
    curriculum = order_curriculum(sft_dialogs, {**params, "stratify_stages": False})
    assert [d["meta"]["difficulty"] for d in curriculum] == sorted(d["meta"]["complexity"] for d in sft_dialogs)
    assert Counter(d["meta"]["curriculum_stage"] for d in curriculum) == {1: 4, 2: 4, 3: 4, 4: 4}
    stratified = order_curriculum(sft_dialogs, params)
    per_stage = Counter((d["meta"]["curriculum_stage"], d["type"]) for d in stratified)
    for kind, total in Counter(d["type"] for d in sft_dialogs).items():
        assert max(per_stage[k, kind] for k in range(1, 5)) - min(per_stage[k, kind] for k in range(1, 5)) <= 1
        assert sum(per_stage[k, kind] for k in range(1, 5)) == total
    ablation = order_curriculum(sft_dialogs, {**params, "curriculum": False})
    assert {d["meta"]["curriculum_stage"] for d in ablation} == {1}
    assert [d["id"] for d in ablation] != [d["id"] for d in sft_dialogs]


def test_train_sft_trains_each_stage_on_one_adapter(sft_dialogs, sft_params):
    sft_params = {**sft_params, "stratify_stages": False}  # one global order: stage 2 starts where stage 1 ends
    train, test, split = split_train_test(sft_dialogs, sft_params)
    curriculum = order_curriculum(train, sft_params)
    adapter, report, metrics = train_sft(curriculum, test, sft_params, split)
    model = adapter["model"]
    assert isinstance(model, PeftModel) and adapter["tokenizer"].padding_side == "right"
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: both stages moved it
    from toolace_kedro.models import cpu_has_bf16

    expected = ("bfloat16", "cuda") if torch.cuda.is_available() else (  # bf16: auto
        "bfloat16" if cpu_has_bf16() else "float32", "cpu")
    assert (report["dtype"], report["device"]) == expected
    assert report["train_dialogs"] == 12 and report["test_dialogs"] == 4
    assert [s["name"] for s in report["stages"]] == ["sft-stage-1-of-2", "sft-stage-2-of-2"]
    for stage in report["stages"]:
        assert stage["samples"] == 6 and stage["steps"] == 3 and stage["tokens"] > stage["loss_tokens"] > 0
        assert stage["tokens_per_s"] > 0 and stage["peak_memory_mb"] > 0 and len(stage["losses"]) == 3
    assert report["stages"][0]["difficulty_max"] <= report["stages"][1]["difficulty_min"]
    assert report["test_nll_after"] < report["test_nll_before"] and isinstance(report["mean_stage_loss_drop"], float)
    assert metrics["train_dialogs"]["value"] == 12 and [m["step"] for m in metrics["stage_loss_end"]] == [1, 2]
    assert report["format"]["mask_source"] == "computed" and report["attn_implementation"] == "sdpa_varlen"


def test_the_nodes_take_the_typed_parameters(sft_dialogs, sft_params, tmp_path):
    """Every node gives the same result from ``SFTParams`` as from the plain dict."""
    sft_params = {**sft_params, "difficulty": "meta"}
    typed = SFTParams.of(sft_params)
    train, test, split = split_train_test(sft_dialogs, sft_params)
    assert split_train_test(sft_dialogs, typed) == (train, test, split)
    curriculum = order_curriculum(train, sft_params)
    assert order_curriculum(train, typed) == curriculum
    runs = [train_sft(curriculum, test, params, split) for params in (sft_params, typed)]
    (first, report, metrics), (second, typed_report, typed_metrics) = runs
    timing = ("wall_s", "tokens_per_s", "peak_memory_mb", "mlflow_run_id")
    assert [{k: v for k, v in s.items() if k not in timing} for s in typed_report["stages"]] == \
        [{k: v for k, v in s.items() if k not in timing} for s in report["stages"]]
    assert typed_report["test_nll_after"] == report["test_nll_after"]
    assert all(torch.equal(a, b) for a, b in zip(first["model"].state_dict().values(),
                                                 second["model"].state_dict().values()))
    first["model"].save_pretrained(tmp_path)
    merged = [merge_sft_adapter(str(tmp_path), params)["model"].state_dict() for params in (sft_params, typed)]
    assert merged[0].keys() == merged[1].keys() and all(torch.equal(merged[0][k], merged[1][k]) for k in merged[0])


def test_base_weights_stay_frozen(sft_dialogs, sft_params, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    curriculum = order_curriculum(sft_dialogs[:6], {**sft_params, "difficulty": "meta", "n_stages": 1})
    adapter, _, _ = train_sft(curriculum, [], {**sft_params, "measure_test_nll": False})
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trained = adapter["model"].get_base_model()
    name = "model.layers.0.self_attn.q_proj"
    weight = trained.get_submodule(name).base_layer.weight
    assert torch.equal(weight.cpu(), base.get_submodule(name).weight.to(weight.dtype))


def test_a_dequantised_gguf_copy_is_trainable(sft_dialogs, sft_params, tiny_model_dir, tmp_path):
    """The embedded model's safetensors copy still says quantization_config: gguf; training must
    not refuse it (transformers does for GGUF-quantised models)."""
    import json
    import shutil

    copy = tmp_path / "gguf-copy"
    shutil.copytree(tiny_model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["quantization_config"] = {"dequantize": False, "gguf_file": "x.gguf", "quant_method": "gguf"}
    (copy / "config.json").write_text(json.dumps(config))
    params = {**sft_params, "policy_model": str(copy), "n_stages": 1, "measure_test_nll": False}
    curriculum = order_curriculum(sft_dialogs[:4], {**params, "difficulty": "meta"})
    adapter, report, _ = train_sft(curriculum, [], params)
    assert report["stages"][0]["steps"] == 2
    assert getattr(adapter["model"].get_base_model().config, "quantization_config", None) is None


def test_exclude_types_leaves_the_type_out_of_training_but_not_out_of_the_test_set(sft_dialogs, sft_params):
    train, test, _ = split_train_test(sft_dialogs, sft_params)
    ablated_train, ablated_test, report = split_train_test(sft_dialogs, {**sft_params, "exclude_types": "parallel"})
    assert ablated_test == test  # every ablation is scored on the held-out set of the full data
    assert ablated_train == [d for d in train if d["type"] != "parallel"]
    assert report["excluded_types"] == {"parallel": 3} and report["types"]["parallel"] == {
        "train": 0, "test": 1, "excluded": 3}
    assert report["train"] == 9
    both = split_train_test(sft_dialogs, {**sft_params, "exclude_types": ["parallel", "non_tool"]})[0]
    assert Counter(d["type"] for d in both) == {"single": 3, "clarify": 3}
    with pytest.raises(ValueError, match="unknown dialog type"):
        split_train_test(sft_dialogs, {**sft_params, "exclude_types": ["paralel"]})
    with pytest.raises(ValueError, match="no training dialog left"):
        split_train_test(sft_dialogs, {**sft_params, "exclude_types": ["single", "parallel", "non_tool", "clarify"]})
