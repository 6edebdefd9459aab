"""Preference optimisation: the shared-prompt SimPO forward equals TRL's; pairs become TRL rows."""

import pytest
import torch

from toolace_kedro.models import load_tokenizer
from toolace_kedro.pipelines.irft.optimisation import preference_rows, select_pairs

PAIRS = [
    {"id": "a", "prompt": [{"role": "system", "content": "Call tools."}, {"role": "user", "content": "Weather in Oslo?"}],
     "prefix": "[get_weather(city=", "chosen": '"Oslo")]', "rejected": '"Lima", days=3)]', "value_gap": 1.6},
    {"id": "b", "prompt": [{"role": "user", "content": "Tell me a fact about Lima, the capital of Peru."}],
     "prefix": "", "chosen": "Lima is the capital of Peru.", "rejected": "[get_weather(city=\"Lima\")]",
     "value_gap": 0.4},
    {"id": "c", "prompt": [{"role": "user", "content": "Hi"}], "prefix": "", "chosen": "Hello!",
     "rejected": "[f()]", "value_gap": 2.0},
]


def test_select_pairs_keeps_the_largest_gaps():
    assert [p["id"] for p in select_pairs(PAIRS, 2)] == ["c", "a"]
    assert len(select_pairs(PAIRS, None)) == 3


def test_preference_rows_render_the_prompt_and_prefix(embedded_model_dir):
    tokenizer = load_tokenizer(embedded_model_dir)
    row = preference_rows(PAIRS[:1], tokenizer)[0]
    assert row["prompt"].endswith("<|im_start|>assistant\n[get_weather(city=")
    assert (row["chosen"], row["rejected"]) == ('"Oslo")]', '"Lima", days=3)]')


def _trainer(tiny_model_dir, trainer_class, tmp_path):
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl.experimental.cpo import CPOConfig

    tokenizer = load_tokenizer(tiny_model_dir, padding_side="right")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = CPOConfig(output_dir=str(tmp_path), loss_type="simpo", cpo_alpha=0.0, simpo_gamma=0.5, beta=2.5,
                       per_device_train_batch_size=3, bf16=False, use_cpu=True, report_to="none",
                       remove_unused_columns=False, gradient_checkpointing=False, max_length=256)
    rows = preference_rows(PAIRS, tokenizer)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    return trainer_class(model=model, args=config, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora)


def test_shared_prompt_forward_equals_trls(tiny_model_dir, tmp_path):
    from trl.experimental.cpo import CPOTrainer

    from toolace_kedro.pipelines.irft.shared_prompt import SharedPromptCPOTrainer

    trainer = _trainer(tiny_model_dir, SharedPromptCPOTrainer, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model
    ours = trainer.concatenated_forward(model, batch)
    assert trainer.shared_batches == 1 and trainer.fallback_batches == 0
    theirs = CPOTrainer.concatenated_forward(trainer, model, batch)
    assert ours[0].detach() == pytest.approx(theirs[0].detach(), abs=1e-5)  # chosen mean log-probs
    assert ours[1].detach() == pytest.approx(theirs[1].detach(), abs=1e-5)  # rejected
    # and the gradients of the LoRA weights agree
    grads = []
    for forward in (lambda: trainer.concatenated_forward(model, batch),
                    lambda: CPOTrainer.concatenated_forward(trainer, model, batch)):
        model.zero_grad()
        chosen, rejected = forward()[:2]
        (chosen.sum() - rejected.sum()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=1e-3)


def test_fit_pairs_leaves_out_pairs_the_trainer_would_cut(embedded_model_dir):
    from toolace_kedro.pipelines.irft.optimisation import fit_pairs

    tokenizer = load_tokenizer(embedded_model_dir)
    long = dict(PAIRS[2], id="long", prompt=[{"role": "user", "content": "word " * 300}])
    kept, dropped = fit_pairs(PAIRS + [long], tokenizer, max_length=128)
    assert [p["id"] for p in kept] == ["a", "b", "c"] and dropped == 1


def test_round_trains_in_a_nested_run_holding_the_pair_figures_before_and_after(tiny_model_dir, irft_params, tmp_path):
    import mlflow

    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.irft.optimisation import train_preference

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        experiment = mlflow.create_experiment("irft-test")
        model, tokenizer = load_policy(tiny_model_dir, cached=False)
        tokenizer.padding_side = "right"
        params = {**irft_params["optimisation"], "report_to": "mlflow", "epochs": 2}
        with mlflow.start_run(experiment_id=experiment) as parent:  # what kedro-mlflow opens around `kedro run`
            _, figures = train_preference(model, tokenizer, PAIRS, params, round_index=1, figures={"pairs": 3.0})
            assert mlflow.active_run().info.run_id == parent.info.run_id
        client = mlflow.tracking.MlflowClient()
        (child,) = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        margins = client.get_metric_history(child.info.run_id, "eval_rewards/margins")
        parent_metrics = client.get_run(parent.info.run_id).data.metrics
    finally:
        mlflow.set_tracking_uri(previous)
    assert child.info.run_name == "irft-round-1" and child.data.metrics["pairs"] == 3.0
    assert [m.step for m in margins] == [0, figures["steps"]]  # before and after training, in the round's run
    assert [m.value for m in margins] == pytest.approx([figures["pairs_before_reward_margin"],
                                                        figures["pairs_after_reward_margin"]])
    assert not any(name.startswith("eval_") for name in parent_metrics)  # nothing leaks into the Kedro run


def test_bf16_round_trains_a_bf16_copy_and_merges_into_the_float32_policy(tiny_model_dir, irft_params, monkeypatch):
    """bf16 on a CPU: the frozen base is a bf16 copy, the adapter is merged into the float32
    policy -- weights outside the adapter stay bit-identical (no bf16 round trip)."""
    import torch

    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.irft import optimisation
    from toolace_kedro.pipelines.irft.optimisation import train_preference

    trained_on = []
    real_copy = optimisation.copy.deepcopy

    def copies(obj, *args):  # the trainer's base is the copy made to bf16 (its weights' dtype after training)
        made = real_copy(obj, *args)
        if obj is model:
            trained_on.append(made)
        return made

    model, tokenizer = load_policy(tiny_model_dir, cached=False)
    tokenizer.padding_side = "right"
    monkeypatch.setattr(optimisation.copy, "deepcopy", copies)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    params = {**irft_params["optimisation"], "bf16": True, "evaluate_pairs": False}
    merged, figures = train_preference(model, tokenizer, PAIRS, params, round_index=1)
    assert figures["steps"] >= 1 and trained_on[0].dtype == torch.bfloat16  # then the float32 copy to merge into
    assert len(trained_on) == 2 and trained_on[1] is merged
    assert merged is not model and all(torch.equal(p, before[n]) for n, p in model.named_parameters())  # untouched
    after = dict(merged.named_parameters())
    assert set(after) == set(before) and all(p.dtype == torch.float32 for p in after.values())
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(name.endswith("proj.weight") for name in changed)  # the LoRA targets only
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])


def test_policy_from_a_model_directory_trains_a_bf16_load_and_merges_into_a_float32_load(
        tiny_model_dir, irft_params, monkeypatch):
    """``kedro run`` hands the round its policy as a model directory: the bf16 base is loaded
    straight from it (no float32 copy held through training), its weights are released before the
    float32 policy is loaded to merge into, and only the LoRA targets change."""
    import torch

    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.irft import nodes

    loads = []

    def spy(path, *args, dtype="auto", **kwargs):
        if loads:  # the float32 load: the trained bf16 base must be gone by now
            assert all(p.device.type == "meta" for p in loads[0][1].parameters())
        model, tokenizer = load_policy(path, *args, dtype=dtype, **kwargs)
        loads.append((dtype, model))
        return model, tokenizer

    monkeypatch.setattr(nodes, "load_policy", spy)
    on_disk, _ = load_policy(tiny_model_dir, cached=False)
    params = {**irft_params, "optimisation": {**irft_params["optimisation"], "bf16": True, "evaluate_pairs": False}}
    reports = ({"pairs": 3, "step_pairs": 1, "answer_pairs": 2, "value_gap": {}}, {"samples": 3, "rollout_reward": {}})
    merged, figures = nodes.optimise_policy(PAIRS, tiny_model_dir, tiny_model_dir, *reports, params)
    assert [dtype for dtype, _ in loads] == ["bfloat16", "auto"] and figures["steps"] >= 1
    assert loads[0][1].dtype == torch.bfloat16 and merged["model"] is loads[1][1]
    after = dict(merged["model"].named_parameters())
    assert all(p.dtype == torch.float32 for p in after.values())
    changed = {name for name, p in on_disk.named_parameters() if not torch.equal(p, after[name])}
    assert changed and all(name.endswith("proj.weight") for name in changed)
    assert figures["policy_fingerprint_after"] == nodes.policy_fingerprint(merged["model"])
    unchanged, figures = nodes.optimise_policy([], tiny_model_dir, tiny_model_dir, *reports, params)
    assert figures["skipped"] == "no_pairs" and unchanged["model"].dtype == torch.float32  # never the bf16 base


def test_checkpointed_round_uses_trls_forward_with_the_same_pair_loss(tiny_model_dir, irft_params, caplog):
    """gradient_checkpointing turns the shared-prompt forward off (its prompt cache would be appended
    to again when a layer is recomputed); TRL's forward computes the same loss."""
    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.irft.optimisation import train_preference

    figures = []
    for checkpointing in (False, True):
        model, tokenizer = load_policy(tiny_model_dir, cached=False)
        tokenizer.padding_side = "right"
        params = {**irft_params["optimisation"], "bf16": False, "gradient_checkpointing": checkpointing}
        figures.append(train_preference(model, tokenizer, PAIRS, params, round_index=1)[1])
    assert "shared_prompt is off under gradient_checkpointing" in caplog.text
    assert figures[1]["pairs_before_loss"] == pytest.approx(figures[0]["pairs_before_loss"], rel=1e-5)
    assert figures[1]["first_loss"] == pytest.approx(figures[0]["first_loss"], rel=1e-4)
