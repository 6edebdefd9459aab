"""ModelDirectoryDataset: versioned save_pretrained directories, written atomically."""

import os

import pytest
import torch
from kedro.io import DatasetError, Version
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from toolace_kedro.datasets import ModelDirectoryDataset
from toolace_kedro.models import load_policy, load_tokenizer


class Saves:
    def __init__(self, files, fail=False):
        self.files, self.fail = files, fail

    def save_pretrained(self, directory, **kwargs):
        for name, text in self.files.items():
            with open(os.path.join(directory, name), "w") as handle:
                handle.write(text + repr(sorted(kwargs.items())))
            if self.fail:
                raise OSError("disk full")


def dataset(tmp_path, version=None, **kwargs):
    return ModelDirectoryDataset(filepath=str(tmp_path / "adapter"), version=Version(None, version), **kwargs)


def test_versions_and_latest_load(tmp_path):
    dataset(tmp_path, "2026-01-01T00.00.00.000Z", save_args={"max_shard_size": "1GB"}).save(Saves({"a.json": "1"}))
    dataset(tmp_path, "2026-01-02T00.00.00.000Z").save({"model": Saves({"a.json": "2"}),
                                                       "tokenizer": Saves({"t": "x"})})
    path = dataset(tmp_path).load()
    assert path == str(tmp_path / "adapter/2026-01-02T00.00.00.000Z/adapter")
    assert sorted(os.listdir(path)) == ["a.json", "t"] and open(f"{path}/a.json").read() == "2[]"
    first = ModelDirectoryDataset(filepath=str(tmp_path / "adapter"),
                                  version=Version("2026-01-01T00.00.00.000Z", None)).load()
    assert open(f"{first}/a.json").read() == "1[('max_shard_size', '1GB')]"
    assert dataset(tmp_path).exists()


def test_failed_save_leaves_nothing_to_load(tmp_path):
    with pytest.raises(DatasetError, match="disk full"):
        dataset(tmp_path, "2026-01-01T00.00.00.000Z").save(Saves({"a.json": "1"}, fail=True))
    assert os.listdir(tmp_path / "adapter/2026-01-01T00.00.00.000Z") == []  # no partial directory left
    assert not dataset(tmp_path).exists()
    with pytest.raises(DatasetError):
        dataset(tmp_path).load()


def test_directory_is_copied_and_bad_objects_are_named(tmp_path):
    source = tmp_path / "trained"
    source.mkdir()
    (source / "adapter_config.json").write_text("{}")
    dataset(tmp_path, "v1").save(str(source))
    assert os.listdir(dataset(tmp_path, None).load()) == ["adapter_config.json"]
    with pytest.raises(DatasetError, match="has no save_pretrained"):
        dataset(tmp_path, "v2").save(object())
    with pytest.raises(DatasetError, match="needs a 'model' key"):
        dataset(tmp_path, "v3").save({"tokenizer": Saves({})})
    with pytest.raises(DatasetError, match="not a directory"):
        dataset(tmp_path, "v4").save(str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="local directories only"):
        ModelDirectoryDataset(filepath="s3://bucket/adapter")


def test_peft_adapter_round_trip(tiny_model_dir, tmp_path):
    """save(peft model + tokenizer) → load() path → models.load_policy(base, adapter=path) gives the same model."""
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    model.eval()
    dataset(tmp_path, "v1").save({"model": model, "tokenizer": load_tokenizer(tiny_model_dir)})
    path = dataset(tmp_path).load()
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(os.listdir(path))
    loaded, _ = load_policy(tiny_model_dir, adapter=path, cached=False)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert isinstance(loaded, PeftModel)
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)
