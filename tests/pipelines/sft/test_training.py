"""Trainer configuration: dtype from the device, padding-free rules, LoRA layers, packing."""

import pytest
from peft import get_peft_model
from transformers import AutoModelForCausalLM

from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.nodes import order_curriculum, train_sft
from toolace_kedro.pipelines.sft.training import attention_for, compact_loss_for, lora_config, stage_config


def test_stage_config_on_cpu(tmp_path, monkeypatch):
    import torch

    from toolace_kedro.pipelines.sft import training

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU configuration, also on a GPU host
    params = SFTParams.model_validate({"training": {"epochs": 2, "learning_rate": 3e-4, "warmup_ratio": 0.1}})
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: True)  # bf16: auto → bf16 autocast on such a CPU
    config = stage_config(params, "sft-stage-2-of-3", str(tmp_path))
    assert config.bf16 is True and config.use_cpu and config.fp16 is False
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: False)
    config = stage_config(params, "sft-stage-2-of-3", str(tmp_path))
    assert config.bf16 is False and config.fp16 is False  # SFTConfig's bf16 default would raise on this CPU
    assert config.run_name == "sft-stage-2-of-3" and config.num_train_epochs == 2 and config.learning_rate == 3e-4
    assert config.padding_free and config.max_length is None and not config.packing  # rows are cut beforehand
    assert config.warmup_steps == 0.1 and config.lr_scheduler_type == "cosine" and config.save_strategy == "no"
    assert attention_for(params) == "sdpa_varlen" and compact_loss_for(params)
    padded = SFTParams.model_validate({"training": {"padding_free": False}})
    assert attention_for(padded) == "sdpa" and not stage_config(padded, "x", str(tmp_path)).padding_free
    packed = SFTParams.model_validate({"max_length": 2048, "training": {"packing": True}})
    assert stage_config(packed, "x", str(tmp_path)).max_length == 2048
    with pytest.raises(ValueError, match="packing needs sft.max_length"):
        SFTParams.model_validate({"max_length": None, "training": {"packing": True}})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU: TRL's fused head, unless weighted
    assert not compact_loss_for(params)
    assert compact_loss_for(SFTParams.model_validate({"training": {"decision_weight": 3}}))
    with pytest.raises(ValueError, match="decision_weight needs"):
        SFTParams.model_validate({"training": {"decision_weight": 3, "loss": "fused"}})


def test_lora_on_the_top_layers_only(tiny_model_dir):
    params = SFTParams.model_validate({"lora": {"r": 4, "layers": 1}})
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model = get_peft_model(base, lora_config(params, base))
    adapted = {n.split(".layers.")[1].split(".")[0] for n, _ in model.named_parameters() if "lora_A" in n}
    assert adapted == {"1"}
    assert {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n} == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}  # all-linear, no head
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    everything = get_peft_model(base, lora_config(SFTParams.model_validate({"lora": {"layers": 5}}), base))
    layers = {n.split(".layers.")[1].split(".")[0] for n, _ in everything.named_parameters() if "lora_A" in n}
    assert layers == {"0", "1"}


def test_packed_training(sft_dialogs, sft_params):
    """BFD packing of rows into max_length blocks trains through the same masks."""
    params = {**sft_params, "n_stages": 1, "measure_test_nll": False, "max_length": 1024,  # ~300-token dialogs
              "training": {**sft_params["training"], "packing": True, "per_device_batch_size": 1}}
    curriculum = order_curriculum(sft_dialogs[:6], {**params, "difficulty": "meta"})
    _, report, _ = train_sft(curriculum, [], params)
    stage = report["stages"][0]
    assert stage["steps"] < 6 and stage["loss_start"] is not None  # several dialogs per packed row


def test_checkpointed_training_has_the_losses_of_plain_training(sft_dialogs, sft_params):
    """gradient_checkpointing with LoRA on the top layer only: the trainer leaves no input-gradient
    hook on the embeddings (so the frozen bottom layer takes no backward pass, models.activation_checkpointing;
    this fails without the callback) and the stage losses are those of plain training."""
    curriculum = order_curriculum(sft_dialogs[:6], {**sft_params, "difficulty": "meta"})
    losses = []
    for checkpointing in (False, True):
        params = {**sft_params, "n_stages": 1, "measure_test_nll": False, "lora": {**sft_params["lora"], "layers": 1},
                  "training": {**sft_params["training"], "gradient_checkpointing": checkpointing}}
        adapter, report, _ = train_sft(curriculum, [], params)
        stage = report["stages"][0]
        losses.append((stage["loss_start"], stage["loss_end"]))
        embeddings = adapter["model"].get_input_embeddings()
        assert not [h for h in embeddings._forward_hooks.values() if "require_grad" in getattr(h, "__name__", "")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
