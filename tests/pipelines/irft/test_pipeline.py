"""The irft pipeline: rounds built from one template, run on an in-memory catalog (tiny model)."""

import pytest
from kedro.io import DataCatalog

from tests.pipelines.irft.conftest import ROOT, base_params
from tests.support.config import project_config
from tests.support.kedro_runs import run_in_memory
from toolace_kedro.pipelines.irft import create_pipeline
from toolace_kedro.pipelines.irft.nodes import optimise_policy, policy_fingerprint
from toolace_kedro.pipelines.irft.pipeline import configured_rounds


def _inputs(dialogs, adapter, model_dir, params):
    return {"sft_train": dialogs, "sft_adapter": adapter, "params:sft.policy_model": model_dir, "params:irft": params}


def test_rounds_are_namespaced_and_chained():
    pipe = create_pipeline(n_rounds=3)
    assert pipe.inputs() == {"sft_train", "sft_adapter", "params:sft.policy_model", "params:irft"}
    mine = {n.namespace: n for n in pipe.nodes if n.name.endswith("mine_deficiencies")}
    assert set(mine) == {"irft_round_1", "irft_round_2", "irft_round_3"}
    assert "irft_sft_policy" in mine["irft_round_1"].inputs
    assert "irft_policy_round_1" in mine["irft_round_2"].inputs
    assert "irft_policy_round_2" in mine["irft_round_3"].inputs
    assert "irft_policy" in pipe.all_outputs()  # (the last round's recheck reads it too)
    assert {"irft_round_3.irft_report", "irft_round_3.irft_metrics"} <= pipe.outputs()


def test_round_count_comes_from_the_parameters(monkeypatch):
    monkeypatch.delenv("IRFT_N_ROUNDS", raising=False)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert configured_rounds(ROOT / "conf") == base_params()["n_rounds"]
    monkeypatch.setenv("KEDRO_ENV", "paper")
    assert configured_rounds(ROOT / "conf") == 3
    monkeypatch.setenv("IRFT_N_ROUNDS", "2")
    assert configured_rounds(ROOT / "conf") == 2


def test_round_count_defaults_to_the_model(monkeypatch, tmp_path):
    from toolace_kedro.pipelines.irft.config import IrftParams

    monkeypatch.delenv("IRFT_N_ROUNDS", raising=False)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "parameters_irft.yml").write_text("irft:\n  mining: {ratio: 0.5}\n")
    assert configured_rounds(tmp_path) == IrftParams().n_rounds == 1


def test_catalog_patterns_version_each_round_apart():
    loader = project_config("base")
    catalog = DataCatalog.from_config(loader["catalog"])
    pairs = catalog.get("irft_round_2.preference_pairs")
    assert type(pairs).__name__ == "JSONLinesDataset"
    assert "irft_round_2/preference_pairs.jsonl" in str(pairs._describe()["filepath"])
    report = catalog.get("irft_round_1.irft_report")
    assert "08_reporting/irft_round_1/irft_report.json" in str(report._describe()["filepath"])
    assert type(catalog.get("irft_policy_round_1")).__name__ == "ModelDirectoryDataset"
    assert catalog.get("irft_round_2.irft_metrics")._prefix == "irft_round_2"


def test_two_rounds_each_mining_with_the_previous_policy(irft_dialogs, sft_adapter, tiny_model_dir, irft_params):
    catalog = run_in_memory(create_pipeline(n_rounds=2),
                            _inputs(irft_dialogs, sft_adapter, tiny_model_dir, irft_params))
    sft_policy = policy_fingerprint(catalog.load("irft_sft_policy")["model"])
    reports = [catalog.load(f"irft_round_{k}.irft_report") for k in (1, 2)]
    after_round_1 = policy_fingerprint(catalog.load("irft_policy_round_1")["model"])
    assert reports[0]["mining"]["policy_fingerprint"] == sft_policy
    assert reports[0]["search"]["policy_fingerprint"] == sft_policy
    assert reports[0]["training"]["policy_fingerprint_after"] == after_round_1 != sft_policy
    assert reports[1]["mining"]["policy_fingerprint"] == after_round_1  # round 2 starts from round 1's policy
    assert reports[1]["training"]["policy_fingerprint_after"] == policy_fingerprint(catalog.load("irft_policy")["model"])
    for k, report in enumerate(reports, start=1):
        pairs = catalog.load(f"irft_round_{k}.preference_pairs")
        assert report["round"] == k and report["pairs"]["pairs"] == len(pairs) > 0
        assert report["mining"]["mined"] == len(catalog.load(f"irft_round_{k}.deficient_samples")) == 4
        assert {p["sample_id"] for p in pairs} <= {d["id"] for d in irft_dialogs}
        assert all({"prompt", "prefix", "chosen", "rejected", "chosen_value", "rejected_value"} <= set(p)
                   for p in pairs)
        assert report["training"]["method"] == "simpo" and report["training"]["steps"] >= 1
        training = report["training"]
        for when in ("before", "after"):  # the pairs scored by the policy before and after the update
            assert {f"pairs_{when}_loss", f"pairs_{when}_reward_margin", f"pairs_{when}_accuracy"} <= set(training)
        assert training["pairs_after_reward_margin"] != training["pairs_before_reward_margin"]
        metrics = catalog.load(f"irft_round_{k}.irft_metrics")
        assert metrics["pairs"] == {"value": float(len(pairs)), "step": k}
        # failure mining (the default): the round's policy answers the decoded candidates again
        before = report["mining"]["failures"]["verdicts"]
        recheck = catalog.load(f"irft_round_{k}.recheck_report")
        assert recheck == report["recheck"] and recheck["candidates"]["n"] == len(before) > 0
        assert recheck["candidates"]["first_correct"] == sum(v["correct"] for v in before)
        assert recheck["mined_failures"]["n"] == sum(not v["correct"] for v in before)
        assert metrics["recheck_candidates_before"]["value"] == recheck["candidates"]["first_correct"]


def test_dpo_with_the_sft_policy_as_reference(irft_dialogs, sft_adapter, tiny_model_dir, irft_params):
    irft_params["optimisation"].update(method="dpo", beta=0.1)
    catalog = run_in_memory(create_pipeline(n_rounds=1),
                            _inputs(irft_dialogs, sft_adapter, tiny_model_dir, irft_params))
    report = catalog.load("irft_round_1.irft_report")
    assert report["training"]["method"] == "dpo" and report["training"]["steps"] >= 1
    assert "last_rewards_margins" in report["training"] and "pairs_after_reward_margin" in report["training"]
    pairs = catalog.load("irft_round_1.preference_pairs")
    policy = catalog.load("irft_sft_policy")
    search = catalog.load("irft_round_1.search_report")
    # a round that starts from another policy than the SFT one loads the SFT policy as DPO reference
    merged, figures = optimise_policy(pairs, catalog.load("irft_policy"), policy,
                                      catalog.load("irft_round_1.pair_report"), search, irft_params, round_index=2)
    assert figures["method"] == "dpo" and figures["policy_fingerprint_after"] == policy_fingerprint(merged["model"])


def test_no_pairs_passes_the_policy_on(sft_adapter, tiny_model_dir, irft_params):
    from toolace_kedro.pipelines.irft.nodes import merge_sft_policy

    policy = merge_sft_policy(sft_adapter, tiny_model_dir)
    merged, figures = optimise_policy([], policy, policy, {}, {}, irft_params)
    assert figures == {"pairs": 0, "too_long": 0, "skipped": "no_pairs"}
    assert policy_fingerprint(merged["model"]) == policy_fingerprint(policy["model"])


def test_mmap_threshold_mib_is_the_threshold_the_optimisation_node_sets(sft_adapter, tiny_model_dir, irft_params,
                                                                        monkeypatch):
    from contextlib import contextmanager

    from toolace_kedro.pipelines.irft import nodes
    from toolace_kedro.pipelines.irft.nodes import merge_sft_policy

    entered = []

    @contextmanager
    def recorder(nbytes):
        entered.append(nbytes)
        yield nbytes is not None

    monkeypatch.setattr(nodes, "mmap_threshold", recorder)
    policy = merge_sft_policy(sft_adapter, tiny_model_dir)
    for setting in (1, 0.5, None):
        opt = {**irft_params["optimisation"], "mmap_threshold_mib": setting}
        optimise_policy([], policy, policy, {}, {}, {**irft_params, "optimisation": opt})
    assert entered == [1 << 20, 1 << 19, None]


def test_unknown_method_is_an_error(irft_params):
    from toolace_kedro.pipelines.irft.optimisation import train_preference

    pair = {"prompt": [{"role": "user", "content": "hi"}], "prefix": "", "chosen": "a", "rejected": "b"}
    with pytest.raises(ValueError, match="method"):
        train_preference(None, _FakeTokenizer(), [pair], {**irft_params["optimisation"], "method": "ppo"}, 1)


class _FakeTokenizer:
    def apply_chat_template(self, messages, **kwargs):
        return messages[-1]["content"]


def test_parameters_validate_and_typos_fail(irft_params):
    from pydantic import ValidationError

    from toolace_kedro.pipelines.irft.config import IrftParams

    for env in ("base", "paper"):
        import yaml

        IrftParams.of(yaml.safe_load((ROOT / f"conf/{env}/parameters_irft.yml").read_text())["irft"])
    with pytest.raises(ValidationError, match="n_iteration"):
        IrftParams.of({**irft_params, "search": {**irft_params["search"], "n_iteration": 3}})
    with pytest.raises(ValidationError, match="method"):
        IrftParams.of({**irft_params, "optimisation": {**irft_params["optimisation"], "method": "ppo"}})


def test_inference_copies_leave_the_policy_alone(tiny_model_dir):
    """Mining and search run on a copy in the inference dtype; the float32 policy that trains next
    (and its fingerprint in the reports) is untouched."""
    import torch

    from toolace_kedro.models import load_policy
    from toolace_kedro.pipelines.irft.nodes import _in_dtype

    model, _ = load_policy(tiny_model_dir, dtype="float32", cached=False)
    before = policy_fingerprint(model)
    assert _in_dtype(model, "float32") is model
    copy = _in_dtype(model, "bfloat16")
    assert copy is not model and copy.dtype == torch.bfloat16
    assert model.dtype == torch.float32 and policy_fingerprint(model) == before
