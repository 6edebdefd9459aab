"""The sft pipeline on an in-memory catalog (tiny model), its configuration, and one small run on
the embedded model."""

from pathlib import Path

import pytest
import torch
from kedro.io import Version

from tests.support.config import project_config
from tests.support.kedro_runs import run_in_memory
from toolace_kedro.datasets import ModelDirectoryDataset
from toolace_kedro.models import cpu_has_bf16, load_policy
from toolace_kedro.pipelines.sft import create_export_pipeline, create_pipeline
from toolace_kedro.pipelines.sft.config import SFTParams
from toolace_kedro.pipelines.sft.nodes import order_curriculum, train_sft

ROOT = Path(__file__).resolve().parents[3]


def config(env):
    loader = project_config(env)
    return loader["parameters"]["sft"], loader["catalog"]


def test_parameters_validate_and_paper_reproduces_toolace():
    base, catalog = config("local")
    assert SFTParams.model_validate(base).policy_model == "smollm2-135m-instruct"
    paper = SFTParams.model_validate(config("paper")[0])
    assert paper.policy_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert (paper.lora.r, paper.lora.alpha, paper.lora.target_modules) == (16, 32, "all-linear")
    t = paper.training
    assert (t.learning_rate, t.warmup_ratio, t.lr_scheduler, t.epochs) == (1e-4, 0.1, "cosine", 3)
    assert t.per_device_batch_size * t.gradient_accumulation_steps == 48
    for name in ("sft_train", "sft_test", "sft_split_report", "sft_curriculum", "sft_adapter", "sft_merged_model",
                 "sft_report"):
        assert catalog[name]["versioned"] is True and catalog[name]["metadata"]["kedro-viz"]["layer"]
    with pytest.raises(ValueError, match="extra"):
        SFTParams.model_validate({**base, "epochs": 3})


def test_pipeline_in_memory(sft_dialogs, sft_params, tiny_model_dir, tmp_path):
    catalog = run_in_memory(create_pipeline(), {"verified_dialogs": sft_dialogs, "params:sft": sft_params})
    train, test = catalog.load("sft_train"), catalog.load("sft_test")
    curriculum, report = catalog.load("sft_curriculum"), catalog.load("sft_report")
    assert len(train) + len(test) == len(sft_dialogs) and len(curriculum) == len(train)
    assert report["train_dialogs"] == len(train) and report["test_dialogs"] == len(test)
    assert len(report["stages"]) == 2 and report["test_nll_after"] < report["test_nll_before"]
    assert catalog.load("sft_metrics")["stages"]["value"] == 2
    assert report["skipped_input"] == catalog.load("sft_split_report")["skipped_input"]
    assert report["skipped_input"]["verified_dialogs"]["records"] == len(sft_dialogs)
    # the adapter goes through the catalog dataset and comes back as a policy
    adapter = catalog.load("sft_adapter")
    store = ModelDirectoryDataset(filepath=str(tmp_path / "sft_adapter"), version=Version(None, None))
    store.save(adapter)
    model, _ = load_policy(tiny_model_dir, adapter=store.load(), cached=False)
    ids = torch.tensor([[1, 5, 9, 13]])
    # bf16: auto trains on bf16 base weights on CUDA and on CPUs with native bf16; reloaded: fp32 on a CPU
    atol = 5e-2 if torch.cuda.is_available() or cpu_has_bf16() else 1e-5

    def logits(m):
        return m(input_ids=ids.to(m.device)).logits.float().cpu()

    with torch.no_grad():
        assert torch.allclose(logits(model), logits(adapter["model"]), atol=atol)
    # optional export: base + adapter merged into one plain model
    merged = run_in_memory(create_export_pipeline(), {"sft_adapter": store.load(), "params:sft": sft_params})
    plain = merged.load("sft_merged_model")["model"]
    assert not hasattr(plain, "peft_config")
    with torch.no_grad():
        assert torch.allclose(logits(plain), logits(adapter["model"]), atol=max(atol, 1e-4))


@pytest.mark.slow
def test_embedded_model_loss_falls(sft_dialogs, sft_params):
    """SmolLM2-135M-Instruct, LoRA, one stage of 8 dialogs twice: the assistant loss falls."""
    params = {**sft_params, "policy_model": "smollm2-135m-instruct", "n_stages": 1, "measure_test_nll": True,
              "training": {**sft_params["training"], "epochs": 2, "learning_rate": 1e-3, "per_device_batch_size": 4}}
    curriculum = order_curriculum(sft_dialogs[:8], {**params, "difficulty": "meta"})
    _, report, _ = train_sft(curriculum, sft_dialogs[8:12], params)
    stage = report["stages"][0]
    assert stage["steps"] == 4 and stage["loss_end"] < stage["loss_start"]
    assert report["test_nll_after"] < report["test_nll_before"]
