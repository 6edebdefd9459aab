"""Resume: a run that dies part-way keeps its finished shards; the rerun generates only the rest
and ends with the dialogs and report of an uninterrupted run. In process (a crash raised by the
model) and as a real ``kedro run`` killed with SIGKILL against the loopback server."""

import json

import pytest

from tests.pipelines.dialog_generation.conftest import scripted_dialog_answer
from tests.support.fakes import Killed, ScriptedLLM, dying_after
from tests.support.kedro_project import kill_when_held, latest_version, log, loopback_llm, make_project, start_kedro
from tests.support.openai_server import serve_in_thread
from toolace_kedro.pipelines.dialog_generation import nodes
from toolace_kedro.pipelines.dialog_generation.engine import run_dialogs
from toolace_kedro.pipelines.dialog_generation.sampling import plan_dialogs


def _same_report(a, b):
    keys = ("planned", "types_planned", "generated", "dropped", "counts")
    return {k: a[k] for k in keys} == {k: b[k] for k in keys}


def test_a_crashed_run_resumes_from_its_shards(api_pool, dialog_params, tmp_path, monkeypatch):
    dialog_params["checkpoint"] = {"dir": str(tmp_path / "ckpt"), "shard_size": 4}
    scripted = ScriptedLLM(scripted_dialog_answer)  # the uninterrupted reference run
    monkeypatch.setattr(nodes, "build_llm", lambda config: scripted)
    dialogs, report = nodes.generate_dialogs(api_pool, {}, {**dialog_params, "checkpoint": None})
    total = len(scripted.calls)

    crashing = dying_after(scripted_dialog_answer, total // 2)
    monkeypatch.setattr(nodes, "build_llm", lambda config: crashing)
    with pytest.raises(Killed):
        nodes.generate_dialogs(api_pool, {}, dialog_params)
    saved = sorted(p.name for p in (tmp_path / "ckpt").rglob("dialogs-*.json"))
    assert 0 < len(saved) < 5, saved

    resumed = ScriptedLLM(scripted_dialog_answer)
    monkeypatch.setattr(nodes, "build_llm", lambda config: resumed)
    dialogs2, report2 = nodes.generate_dialogs(api_pool, {}, dialog_params)
    assert dialogs2 == dialogs and _same_report(report2, report)
    assert report2["checkpoint"]["shards_resumed"] == len(saved)
    # the resumed run asked exactly for the dialogs of the shards that were not saved
    plans = plan_dialogs(api_pool, dialog_params)
    done = {p["id"] for k in (int(n[8:13]) for n in saved) for p in plans[4 * k: 4 * k + 4]}
    assert len(resumed.calls) == _requests_for([p for p in plans if p["id"] not in done], dialog_params)


def test_a_crashed_run_with_the_complexity_loop_resumes_with_the_same_bounds(api_pool, dialog_params, tmp_path,
                                                                           monkeypatch):
    """Shards are saved once their dialogs are scored (and regenerated); they carry the bounds,
    so the resumed run judges the rest of the dialogs like the uninterrupted one."""
    dialog_params["checkpoint"] = {"dir": str(tmp_path / "ckpt"), "shard_size": 4}
    dialog_params["complexity"].update(enabled=True, policy_model="stub", prior_size=6, batch_size=1)
    seen = set()

    def scorer(samples):  # by dialog: a fixed spread for the first pass, mid-range for a regeneration
        out = []
        for s in samples:
            out.append(5.5 if s["id"] in seen else float(sum(map(ord, s["id"])) % 11))
            seen.add(s["id"])
        return out

    monkeypatch.setattr(nodes, "ComplexityEvaluator", lambda *args: scorer)
    scripted = ScriptedLLM(scripted_dialog_answer)
    monkeypatch.setattr(nodes, "build_llm", lambda config: scripted)
    dialogs, report = nodes.generate_dialogs(api_pool, {}, {**dialog_params, "checkpoint": None})
    cx = report["complexity"]
    assert cx["complicated"] + cx["simplified"] > 0
    total = len(scripted.calls)

    seen.clear()
    monkeypatch.setattr(nodes, "build_llm", lambda config: dying_after(scripted_dialog_answer, total // 2))
    with pytest.raises(Killed):
        nodes.generate_dialogs(api_pool, {}, dialog_params)
    saved = list((tmp_path / "ckpt").rglob("dialogs-*.json"))
    assert 0 < len(saved) < 5 and all("complexity_bounds" in json.loads(p.read_text())["value"] for p in saved)

    seen.clear()
    monkeypatch.setattr(nodes, "build_llm", lambda config: ScriptedLLM(scripted_dialog_answer))
    dialogs2, report2 = nodes.generate_dialogs(api_pool, {}, dialog_params)
    assert dialogs2 == dialogs and _same_report(report2, report)
    assert {k: report2["complexity"][k] for k in ("lower", "upper", "complicated", "simplified")} == \
        {k: cx[k] for k in ("lower", "upper", "complicated", "simplified")}


def _requests_for(plans, params):
    """Requests the scripted model gets for these plans, one dialog at a time (no cache)."""
    llm = ScriptedLLM(scripted_dialog_answer)
    for plan in plans:
        run_dialogs([plan], llm, params)
    return len(llm.calls)


def respond(messages, payload):
    schema = payload.get("response_format", {}).get("json_schema", {}).get("schema")
    return scripted_dialog_answer(messages, payload, schema)


def test_a_killed_kedro_run_resumes_without_regenerating_finished_shards(api_pool, dialog_params, tmp_path):
    """``kedro run --pipelines dialog_generation`` in a subprocess, SIGKILLed while the server
    holds its requests; the rerun sends exactly the requests of the unfinished shards (no response
    cache, so a regenerated shard would show) and ends with the uninterrupted run's dialogs."""
    dialog_params.update(n_dialogs=16, chunk_size=8)
    dialog_params["checkpoint"] = {"dir": "data/02_intermediate/checkpoints/dialog_generation", "shard_size": 4,
                                   "keep": True, "max_failed_share": 0.5}
    plans = plan_dialogs(api_pool, dialog_params)
    per_plan = [_requests_for([p], dialog_params) for p in plans]
    with serve_in_thread(responder=respond) as (url, state):
        llm = loopback_llm(url)
        reference, reference_report = nodes.generate_dialogs(api_pool, llm, {**dialog_params, "checkpoint": None})
        assert state.requests == sum(per_plan)

        project = make_project(tmp_path / "project", {"llm": llm, "dialog_generation": dialog_params},
                               inputs={"api_pool": api_pool})
        # the first chunk (8 dialogs, shards 0-1) is answered, then half of the second
        state.requests = 0
        state.hold_after = sum(per_plan[:8]) + sum(per_plan[8:]) // 2
        kill_when_held(start_kedro(project, "dialog_generation"), state, project)
        shard_dir = project / "data/02_intermediate/checkpoints/dialog_generation"
        saved = {p.name: p.read_bytes() for p in shard_dir.rglob("shards/*.json")}
        assert 2 <= len(saved) < 4, sorted(saved)

        state.hold_after, state.requests = None, 0
        rerun = start_kedro(project, "dialog_generation")
        assert rerun.wait(timeout=120) == 0, log(project)[-3000:]
        resumed_plans = {p["id"] for name in saved for k in [int(name[8:13])] for p in plans[4 * k: 4 * k + 4]}
        assert state.requests == sum(n for p, n in zip(plans, per_plan) if p["id"] not in resumed_plans)
    assert f"dialogs: resumed {len(saved)} of 4 shards" in log(project)
    assert {n: (next(shard_dir.rglob(f"shards/{n}")).read_bytes()) for n in saved} == saved, "rewritten"
    dialogs = [json.loads(line) for line in latest_version(project, "data/03_primary/dialogs.jsonl").splitlines()]
    assert dialogs == reference and len({d["id"] for d in dialogs}) == len(dialogs) == 16
    report = json.loads(latest_version(project, "data/08_reporting/dialog_generation_report.json"))
    assert _same_report(report, reference_report)
    assert report["llm"]["requests"] >= reference_report["llm"]["requests"]  # the killed run's requests count too
