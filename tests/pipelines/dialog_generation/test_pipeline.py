"""The whole dialog_generation pipeline on an in-memory catalog: its synthesis model behind a
loopback OpenAI-compatible server (the paper set-up) answering with the scripted fake, the
complexity evaluator a real (tiny) policy model; and one small run on the embedded model."""

import json
from pathlib import Path

import pytest

from tests.pipelines.dialog_generation.conftest import scripted_dialog_answer
from tests.support.config import project_config
from tests.support.kedro_runs import run_in_memory
from tests.support.openai_server import serve_in_thread
from toolace_kedro.pipelines.dialog_generation import create_pipeline
from toolace_kedro.toolcalls import DialogSample, from_toolace, from_trl, to_toolace, to_trl

ROOT = Path(__file__).resolve().parents[3]
TYPES = {"single", "parallel", "dependent", "non_tool", "clarify"}


def respond(messages, payload):
    schema = payload.get("response_format", {}).get("json_schema", {}).get("schema")
    return scripted_dialog_answer(messages, payload, schema)


def paper_config():
    return project_config("paper")["parameters"]


def _check_dialogs(dialogs):
    for d in dialogs:
        DialogSample.model_validate(d)
        assert from_toolace(json.loads(json.dumps(to_toolace(d)))) == d and from_trl(to_trl(d)) == d


def test_paper_env_sets_toolace_scale():
    params = paper_config()["dialog_generation"]
    assert params["n_dialogs"] >= 10_000 and params["self_consistency"]["samples"] >= 3


def test_pipeline_against_loopback_server(api_pool, dialog_params, tiny_model_dir, tmp_path):
    params = paper_config()
    dialog_params["complexity"].update(enabled=True, policy_model=tiny_model_dir)
    with serve_in_thread(responder=respond) as (url, state):
        llm = {**params["llm"], "base_url": url, "cache_dir": str(tmp_path / "cache"), "progress": False}
        inputs = {"api_pool": api_pool, "params:llm": llm, "params:dialog_generation": dialog_params}
        catalog = run_in_memory(create_pipeline(), inputs)
        served = state.requests
    dialogs = catalog.load("dialogs")
    stats = catalog.load("dialog_stats")
    assert len(dialogs) == dialog_params["n_dialogs"] and set(stats["type_mix"]) == TYPES
    _check_dialogs(dialogs)
    assert all(isinstance(d["meta"]["complexity"], float) for d in dialogs)
    cx = stats["complexity"]
    assert cx["lower"] <= cx["upper"] and cx.get("complicated", 0) + cx.get("simplified", 0) > 0
    assert stats["self_consistency"]["actions_dropped"] == 0 and stats["self_consistency"]["actions_kept"] > 0
    metrics = catalog.load("dialog_generation_metrics")
    assert metrics["dialogs"]["value"] == len(dialogs) and metrics["types_covered"]["value"] == 5
    # a rerun is answered from the response cache: the server sees nothing new
    with serve_in_thread(responder=respond) as (url, state):
        catalog2 = run_in_memory(create_pipeline(), {**inputs, "params:llm": {**llm, "base_url": url}})
        assert state.requests == 0 and served > 0
    assert catalog2.load("dialogs") == dialogs


@pytest.mark.slow
def test_embedded_model_generates_contract_valid_dialogs(tmp_path, dialog_params):
    """A small run with the real 135M model and the real API pool format: every dialog that
    survives self-consistency obeys the contract; the stats show the votes and the complexity."""
    pool = [json.loads(line) for line in (ROOT / "data/01_raw/seed_apis.jsonl").read_text().splitlines()]
    dialog_params.update(n_dialogs=10, chunk_size=10, distractors=2)
    dialog_params["self_consistency"]["temperature"] = 0.3
    dialog_params["complexity"].update(enabled=True, policy_model="smollm2-135m-instruct")
    catalog = run_in_memory(create_pipeline(), {
        "api_pool": pool, "params:dialog_generation": dialog_params,
        "params:llm": {"model": "smollm2-135m-instruct", "batch_size": 32, "progress": False,
                       "cache_dir": str(tmp_path)}})
    dialogs = catalog.load("dialogs")
    stats = catalog.load("dialog_stats")
    _check_dialogs(dialogs)
    assert dialogs, stats
    votes = stats["self_consistency"]
    assert votes["actions_kept"] + votes["actions_dropped"] > 0 and sum(votes["call_votes_by_samples_drawn"].values()) > 0
    assert stats["dialogs"] + sum(stats["dropped"].values()) == 10
    assert stats["complexity"]["in_bounds"] >= 1
