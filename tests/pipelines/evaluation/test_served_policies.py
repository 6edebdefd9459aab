"""Policies behind an OpenAI-compatible server: each policy is asked by its own served name, the
weights a name stands for enter the response-cache key, and a policy the server does not know
stops the run (instead of empty answers scored as wrong ones)."""

import pytest

from tests.support.kedro_runs import run_in_memory
from tests.support.openai_server import serve_in_thread
from toolace_kedro.datasets import BFCLDataset
from toolace_kedro.hooks import run_problems
from toolace_kedro.pipelines.evaluation import create_pipeline
from toolace_kedro.pipelines.evaluation.nodes import policy_llm_config, predict_sft

PARAMS = {"bfcl": {"categories": ["simple_python", "irrelevance", "live_relevance"], "sample_size": 2},
          "generation": {"max_tokens": 32, "batch_size": 4},
          "served_policies": {"sft": "toolace-sft", "irft": "toolace-irft"}}
#: what each served name answers: base never calls, sft always calls, irft calls another function
ANSWERS = {"base-model": "I cannot help with that.", "toolace-sft": "[get_weather(city='Paris')]",
           "toolace-irft": "[book_flight(origin='LHR')]"}


@pytest.fixture(scope="module")
def bfcl_data():
    return BFCLDataset(categories=PARAMS["bfcl"]["categories"]).load()


@pytest.fixture
def weights(tmp_path):
    """This run's adapter and merged policy: directories with a weight file each."""
    adapter, merged = tmp_path / "sft_adapter", tmp_path / "irft_policy"
    for folder, name in ((adapter, "adapter_model.safetensors"), (merged, "model.safetensors")):
        folder.mkdir()
        (folder / name).write_bytes(b"weights of " + folder.name.encode())
    return adapter, merged


def _inputs(bfcl_data, dialog, base_url, tmp_path, adapter, merged, params=PARAMS):
    llm = {"backend": "openai", "base_url": base_url, "model": "base-model", "progress": False, "max_retries": 1,
           "backoff_s": 0.0, "cache_dir": str(tmp_path / "cache")}
    return {"bfcl_data": bfcl_data, "bfcl_multi_turn_data": {}, "sft_test": [dialog], "sft_train": [dialog], "sft_adapter": str(adapter),
            "irft_policy": str(merged), "params:sft.policy_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "params:llm": llm, "params:evaluation": params}


def _respond(messages, payload):
    return ANSWERS[payload["model"]]


def test_three_served_names_give_three_answer_sets(bfcl_data, dialog, weights, tmp_path):
    adapter, merged = weights
    with serve_in_thread(responder=_respond, models=set(ANSWERS)) as (base_url, state):
        catalog = run_in_memory(create_pipeline(), _inputs(bfcl_data, dialog, base_url, tmp_path, adapter, merged))
        n_items = len(catalog.load("evaluation_items"))
        assert state.requests == 3 * n_items
        for policy, name in (("base", "base-model"), ("sft", "toolace-sft"), ("irft", "toolace-irft")):
            assert {p["output"] for p in catalog.load(f"predictions_{policy}")} == {ANSWERS[name]}
        scores = catalog.load("evaluation_scores")["models"]
        assert scores["base"]["bfcl"]["irrelevance"]["accuracy"] == 1.0
        assert scores["sft"]["bfcl"]["irrelevance"]["accuracy"] == 0.0
        assert scores["sft"]["bfcl"]["live_relevance"]["accuracy"] == 1.0

        # a rerun answers every policy from the cache; a new adapter under the same served name
        # is asked again (its weights are part of the key), base and irft are not
        run_in_memory(create_pipeline(), _inputs(bfcl_data, dialog, base_url, tmp_path, adapter, merged))
        assert state.requests == 3 * n_items
        (adapter / "adapter_model.safetensors").write_bytes(b"weights of the next run")
        run_in_memory(create_pipeline(), _inputs(bfcl_data, dialog, base_url, tmp_path, adapter, merged))
        assert state.requests == 4 * n_items


def test_a_policy_the_server_does_not_know_stops_the_run(bfcl_data, dialog, weights, tmp_path):
    adapter, merged = weights
    with serve_in_thread(responder=_respond, models={"base-model", "toolace-sft"}) as (base_url, state):
        with pytest.raises(RuntimeError) as info:
            run_in_memory(create_pipeline(), _inputs(bfcl_data, dialog, base_url, tmp_path, adapter, merged))
    message = str(info.value)
    assert "irft policy (model 'toolace-irft')" in message and "http_404" in message
    assert "does not exist" in message and "Nothing was scored" in message
    assert "bfcl item 'simple_python_" in message


def test_a_policy_without_a_served_name_stops_the_run_before_any_node(dialog, weights, tmp_path):
    adapter, merged = weights
    llm = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "base-model"}
    params = {**PARAMS, "served_policies": {"sft": "toolace-sft"}}
    nodes = {n.name for n in create_pipeline().nodes}
    problems = run_problems({"llm": llm, "evaluation": params}, nodes)
    assert len(problems) == 1 and problems[0].startswith("evaluation.served_policies.irft is not set")
    # base and sft only (the ablation grid's evaluation): nothing missing
    assert run_problems({"llm": llm, "evaluation": params}, {n.name for n in create_pipeline(("base", "sft")).nodes}) == []
    # evaluated in process, the served names are not needed
    in_process = {**params, "generation": {"backend": "transformers"}}
    assert run_problems({"llm": llm, "evaluation": in_process}, nodes) == []
    with pytest.raises(ValueError, match="served_policies.sft is not set"):
        predict_sft([], "base", str(adapter), llm, {})


def test_the_served_config_of_each_policy(weights):
    adapter, merged = weights
    llm = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "base-model", "temperature": 0.7}
    base = policy_llm_config(llm, PARAMS, "base", "HuggingFaceTB/SmolLM2-135M-Instruct")
    sft = policy_llm_config(llm, PARAMS, "sft", "HuggingFaceTB/SmolLM2-135M-Instruct", str(adapter))
    irft = policy_llm_config(llm, PARAMS, "irft", str(merged))
    assert (base["model"], sft["model"], irft["model"]) == ("base-model", "toolace-sft", "toolace-irft")
    assert base["served_weights"] is None and base["temperature"] == 0.0
    assert sft["adapter"] is None and sft["served_weights"].startswith(f"{adapter}|")
    assert irft["served_weights"].startswith(f"{merged}|model.safetensors:")
    # in process: this run's own weights, no served names
    local = policy_llm_config({"backend": "transformers"}, PARAMS, "sft", "base-id", str(adapter))
    assert (local["model"], local["adapter"]) == ("base-id", str(adapter)) and "served_weights" not in local
