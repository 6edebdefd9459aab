"""Resume of api_synthesis: speciation phases and evolution generations are shards. A run that
dies part-way keeps the finished ones; the rerun replays them without a request and ends with
the uninterrupted run's tree, pool and rejects. In process (a crash raised by the model) and as
a real ``kedro run`` killed with SIGKILL against the loopback server."""

import json
from pathlib import Path

import pytest

from tests.pipelines.api_synthesis.conftest import scripted_answer
from tests.support.fakes import Killed, ScriptedLLM, dying_after
from tests.support.kedro_project import kill_when_held, latest_version, log, loopback_llm, make_project, start_kedro
from tests.support.kedro_runs import run_in_memory
from tests.support.openai_server import serve_in_thread
from toolace_kedro.pipelines.api_synthesis import create_pipeline, nodes

ROOT = Path(__file__).resolve().parents[3]


def _synthesise(documents, seeds, params):
    tree, speciation = nodes.build_context_tree(documents, {}, params)
    pool, rejects, evolution = nodes.evolve_api_pool(tree, seeds, {}, params)
    return tree, pool, rejects, evolution["generations"]


def test_a_crashed_run_resumes_from_its_generations(documents, synthesis_params, flight_api, tmp_path, monkeypatch):
    synthesis_params["evolution"]["n_generations"] = 3
    per_generation = synthesis_params["evolution"]["apis_per_generation"]
    scripted = ScriptedLLM(scripted_answer)
    monkeypatch.setattr(nodes, "build_llm", lambda config: scripted)
    reference = _synthesise(documents, [flight_api], synthesis_params)
    speciation_requests = len(scripted.calls) - 3 * per_generation

    synthesis_params["checkpoint"] = {"dir": str(tmp_path), "keep": True, "max_failed_share": 0.5}
    # dies inside generation 2
    crashing = dying_after(scripted_answer, speciation_requests + per_generation + per_generation // 2)
    monkeypatch.setattr(nodes, "build_llm", lambda config: crashing)
    with pytest.raises(Killed):
        _synthesise(documents, [flight_api], synthesis_params)
    assert sorted(p.name for p in tmp_path.rglob("shards/*.json")) == [
        "expansion-depth-2.json", "extraction.json", "generation-0001.json"]

    resumed = ScriptedLLM(scripted_answer)
    monkeypatch.setattr(nodes, "build_llm", lambda config: resumed)
    assert _synthesise(documents, [flight_api], synthesis_params) == reference
    assert len(resumed.calls) == 2 * per_generation, "only generations 2 and 3 are asked for"


def respond(messages, payload):
    schema = payload.get("response_format", {}).get("json_schema", {}).get("schema")
    return scripted_answer(messages, payload, schema)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_killed_kedro_run_resumes_without_regenerating_finished_shards(synthesis_params, tmp_path):
    """``kedro run --pipelines api_synthesis`` SIGKILLed in its third evolution generation;
    the rerun asks only for generations 3 and 4 (no response cache, so anything regenerated
    would show) and ends with the uninterrupted run's pool and rejects."""
    params = {**synthesis_params, "documents": {"min_chars": 40, "max_chars": 20000, "max_control_ratio": 0.05},
              "checkpoint": {"dir": "data/02_intermediate/checkpoints/api_synthesis", "keep": True,
                             "max_failed_share": 0.5}}
    params["evolution"]["n_generations"] = 4
    per_generation = params["evolution"]["apis_per_generation"]
    inputs = {"raw_documents": _records(ROOT / "data/01_raw/api_documents.jsonl"),
              "seed_apis": _records(ROOT / "data/01_raw/seed_apis.jsonl"),
              "params:api_synthesis": {**params, "checkpoint": None}}
    with serve_in_thread(responder=respond) as (url, state):
        llm = loopback_llm(url)
        reference = run_in_memory(create_pipeline(), {**inputs, "params:llm": llm})
        speciation_requests = reference.load("api_speciation_report")["llm"]["requests"]
        assert state.requests == speciation_requests + 4 * per_generation

        project = make_project(tmp_path / "project", {"llm": llm, "api_synthesis": params})
        state.requests = 0
        state.hold_after = speciation_requests + 2 * per_generation + per_generation // 2
        kill_when_held(start_kedro(project, "api_synthesis"), state, project)
        shard_dir = project / "data/02_intermediate/checkpoints/api_synthesis"
        saved = {p.name: p.read_bytes() for p in shard_dir.rglob("shards/*.json")}
        assert sorted(saved) == ["expansion-depth-2.json", "extraction.json", "generation-0001.json",
                                 "generation-0002.json"]

        state.hold_after, state.requests = None, 0
        rerun = start_kedro(project, "api_synthesis")
        assert rerun.wait(timeout=120) == 0, log(project)[-3000:]
        assert state.requests == 2 * per_generation, "only generations 3 and 4 are asked for"
    text = log(project)
    assert "speciation: resumed 2 of 2 shards" in text and "evolution: resumed 2 of 4 shards" in text
    assert {n: next(shard_dir.rglob(f"shards/{n}")).read_bytes() for n in saved} == saved, "rewritten"
    pool = [json.loads(line) for line in latest_version(project, "data/03_primary/api_pool.jsonl").splitlines()]
    rejects = [json.loads(line) for line in latest_version(project, "data/03_primary/api_rejects.jsonl").splitlines()]
    assert pool == reference.load("api_pool") and rejects == reference.load("api_rejects")
    assert len({api["name"] for api in pool}) == len(pool) > 0
    stats = json.loads(latest_version(project, "data/08_reporting/api_pool_stats.json"))
    assert stats["evolution"]["generations"] == reference.load("api_evolution_report")["generations"]
    assert stats["evolution"]["checkpoint"]["shards_resumed"] == 2
