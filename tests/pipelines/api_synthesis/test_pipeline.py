"""The whole api_synthesis pipeline on an in-memory catalog, its model behind a loopback
OpenAI-compatible server (the paper set-up) that answers with the scripted fake model."""

import json
from pathlib import Path

import pytest

from tests.pipelines.api_synthesis.conftest import scripted_answer
from tests.support.config import project_config
from tests.support.kedro_runs import run_in_memory
from tests.support.openai_server import serve_in_thread
from toolace_kedro.pipelines.api_synthesis import create_pipeline
from toolace_kedro.toolcalls import api_problems

ROOT = Path(__file__).resolve().parents[3]


def respond(messages, payload):
    schema = payload.get("response_format", {}).get("json_schema", {}).get("schema")
    return scripted_answer(messages, payload, schema)


def paper_config():
    return project_config("paper")["parameters"]


def test_paper_env_targets_an_openai_endpoint_at_paper_scale():
    params = paper_config()
    assert params["llm"]["backend"] == "openai" and params["llm"]["base_url"].startswith("http")
    assert params["llm"]["max_concurrency"] >= 32
    evo = params["api_synthesis"]["evolution"]
    assert evo["n_generations"] * evo["apis_per_generation"] >= 26_507  # ToolACE's pool size


def test_pipeline_against_loopback_server(documents, synthesis_params, flight_api, tmp_path):
    params = paper_config()
    with serve_in_thread(responder=respond) as (url, state):
        llm = {**params["llm"], "base_url": url, "cache_dir": str(tmp_path / "cache"), "progress": False}
        catalog = run_in_memory(create_pipeline(), {
            "raw_documents": documents + [{"id": "bad", "text": ""}], "seed_apis": [flight_api],
            "params:llm": llm, "params:api_synthesis": synthesis_params})
        served = state.requests
    pool = catalog.load("api_pool")
    stats = catalog.load("api_pool_stats")
    assert pool and all(api_problems(a) == [] for a in pool)
    assert stats["apis"] == len(pool) and stats["documents"]["documents_skipped"] == {"empty": 1}
    assert stats["evolution"]["llm"]["requests"] == 12 and stats["speciation"]["llm"]["failures"] == {}
    assert len(catalog.load("api_context_tree")["nodes"]) > 6
    assert catalog.load("api_synthesis_metrics")["apis"]["value"] == len(pool)
    json.dumps(catalog.load("api_rejects"))
    # a rerun is answered from the response cache: the server sees nothing new
    with serve_in_thread(responder=respond) as (url, state):
        catalog2 = run_in_memory(create_pipeline(), {
            "raw_documents": documents, "seed_apis": [flight_api], "params:llm": {**llm, "base_url": url},
            "params:api_synthesis": synthesis_params})
        assert state.requests == 0 and served > 0
    assert catalog2.load("api_pool") == pool


@pytest.mark.slow
def test_embedded_model_synthesises_valid_apis(tmp_path, synthesis_params):
    """A small run with the real 135M model: every pooled API validates and came from the model."""
    docs = [json.loads(line) for line in (ROOT / "data/01_raw/api_documents.jsonl").read_text().splitlines()[:6]]
    seeds = [json.loads(line) for line in (ROOT / "data/01_raw/seed_apis.jsonl").read_text().splitlines()]
    synthesis_params["speciation"]["max_expansions_per_level"] = 4
    synthesis_params["evolution"].update(n_generations=1, apis_per_generation=8)
    catalog = run_in_memory(create_pipeline(), {
        "raw_documents": docs, "seed_apis": seeds, "params:api_synthesis": synthesis_params,
        "params:llm": {"model": "smollm2-135m-instruct", "batch_size": 16, "progress": False,
                       "cache_dir": str(tmp_path)}})
    tree = catalog.load("api_context_tree")
    assert len(tree["roots"]) >= 3
    pool = catalog.load("api_pool")
    assert all(api_problems(a) == [] for a in pool)
    assert len(pool) + len(catalog.load("api_rejects")) == 8
