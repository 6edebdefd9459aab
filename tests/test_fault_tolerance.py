"""Fault tolerance of a whole synthesis run (api_synthesis → dialog_generation) against a loopback
OpenAI-compatible server that injects 500s, 429s with Retry-After, timeouts, truncated and
non-JSON bodies into random attempts of any request: the run finishes, every injected fault is
retried or reported, and the failures reach the stage reports and MLflow metrics by reason."""

import copy
import time

import pytest

from tests.conftest import FLIGHT_API
from tests.pipelines.api_synthesis.conftest import PARAMS as SYNTHESIS_PARAMS
from tests.pipelines.dialog_generation.conftest import PARAMS as DIALOG_PARAMS
from tests.pipelines.dialog_generation.conftest import POOL
from tests.support.kedro_runs import run_in_memory
from tests.support.openai_server import serve_in_thread
from tests.support.tiny_run import SYNTHESIS_PROMPTS, respond
from toolace_kedro.llm import ShardFailureError
from toolace_kedro.pipelines import api_synthesis, dialog_generation

#: the share of all attempts that gets each kind of fault (34 % in all)
FAULTS = {"500": 0.1, "429": 0.08, "timeout": 0.03, "truncated": 0.05, "garbage": 0.05, "nochoices": 0.03}
#: injected kinds → the reasons the client reports them under
REASONS = [(["500"], ["http_500"]), (["429"], ["http_429"]), (["timeout"], ["timeout"]),
           (["truncated"], ["truncated_body", "connection"]), (["garbage", "nochoices"], ["malformed_response"])]
MAX_RETRIES = 2
def llm_config(url, tmp_path):
    return {"backend": "openai", "base_url": url, "model": "test-model", "cache_dir": str(tmp_path / "cache"),
            "progress": False, "max_concurrency": 16, "timeout_s": 1.0, "max_retries": MAX_RETRIES,
            "backoff_s": 0.01, "max_backoff_s": 0.05, "api_key_env": "TOOLACE_TEST_KEY", "credentials": None}


def documents():
    topics = ["travel", "finance", "weather", "music", "sports", "health"]
    return [{"id": f"d{i}", "text": f"{t} service documentation with enough words to be kept.", "source": t}
            for i, t in enumerate(topics)]


def transport_events(*usages):
    """Retries and failures per reason, over stages, leaving out the model's schema re-asks."""
    events = {}
    for usage in usages:
        for key in ("retries", "failures"):
            for reason, n in usage[key].items():
                if reason != "schema_invalid":
                    events[reason] = events.get(reason, 0) + n
    return events


def test_a_synthesis_run_finishes_through_injected_faults_and_reports_them(tmp_path):
    synthesis = {**copy.deepcopy(SYNTHESIS_PARAMS), "checkpoint": {"dir": str(tmp_path / "api"),
                                                                   "max_failed_share": 0.5}}
    dialogs = {**copy.deepcopy(DIALOG_PARAMS), "checkpoint": {"dir": str(tmp_path / "dialogs"), "shard_size": 4,
                                                              "max_failed_share": 0.5}}
    start = time.perf_counter()
    with serve_in_thread(responder=respond, fault_rates=FAULTS, retry_after="1") as (url, state):
        catalog = run_in_memory(api_synthesis.create_pipeline() + dialog_generation.create_pipeline(), {
            "raw_documents": documents(), "seed_apis": [copy.deepcopy(FLIGHT_API)],
            "params:llm": llm_config(url, tmp_path), "params:api_synthesis": synthesis,
            "params:dialog_generation": dialogs})
    elapsed = time.perf_counter() - start
    pool_stats, dialog_stats = catalog.load("api_pool_stats"), catalog.load("dialog_stats")
    assert pool_stats["apis"] > 0 and dialog_stats["dialogs"] > 0
    assert set(state.faults_served) == set(FAULTS), "every kind of fault was injected"
    assert elapsed < 30

    # every injected fault was retried or, after MAX_RETRIES retries, reported -- under its reason
    usages = [pool_stats["speciation"]["llm"], pool_stats["evolution"]["llm"], dialog_stats["llm"]]
    events = transport_events(*usages)
    for kinds, reasons in REASONS:
        served = sum(state.faults_served[k] for k in kinds)
        assert sum(events.pop(r, 0) for r in reasons) == served, (kinds, served)
    assert events == {}, f"failures the server did not inject: {events}"
    synthesis_attempts = [n for key, n in state.attempts.items() if any(p in key for p in SYNTHESIS_PROMPTS)]
    assert max(synthesis_attempts) <= MAX_RETRIES + 1, "a request was tried more often than max_retries allows"

    # the reports and the MLflow metrics carry them by reason
    failures = pool_stats["llm"]["failures"]
    assert pool_stats["llm"]["retries"] and dialog_stats["llm"]["retries"]
    assert sum(failures.values()) + sum(dialog_stats["llm"]["failures"].values()) > 0
    rejected_by_llm = [r for r in catalog.load("api_rejects") if r["reason"].startswith("llm.")]
    assert len(rejected_by_llm) == sum(pool_stats["evolution"]["llm"]["failures"].values())
    counts = catalog.load("dialog_generation_report")["counts"]
    failed_samples = {k.split(".", 1)[1]: v for k, v in counts.items() if k.startswith("failed_samples.")}
    assert failed_samples == dialog_stats["llm"]["failures"]
    assert dialog_stats["dialogs"] + sum(dialog_stats["dropped"].values()) == DIALOG_PARAMS["n_dialogs"]
    for stage, stats in (("api_synthesis_metrics", pool_stats), ("dialog_generation_metrics", dialog_stats)):
        metrics = catalog.load(stage)
        for key in ("retries", "failures"):
            assert metrics[f"llm.{key}"]["value"] == sum(stats["llm"][key].values())
            for reason, n in stats["llm"][key].items():
                assert metrics[f"llm.{key}.{reason}"]["value"] == n


def test_an_endpoint_outage_stops_the_run_and_a_rerun_resumes(tmp_path):
    """Every request failing is an outage, not data: the run stops before saving a shard of
    failures; once the endpoint answers, the same run resumes (and loses nothing)."""
    params = {**copy.deepcopy(DIALOG_PARAMS), "checkpoint": {"dir": str(tmp_path / "ckpt"), "shard_size": 4,
                                                             "max_failed_share": 0.5}}
    node = dialog_generation.nodes.generate_dialogs
    with serve_in_thread(responder=respond, fault_rates={"500": 1.0}) as (url, state):
        with pytest.raises(ShardFailureError, match="http_500"):
            node(copy.deepcopy(POOL), llm_config(url, tmp_path), params)
        assert not list((tmp_path / "ckpt").rglob("shards/*.json"))
        state.fault_rates = {}
        dialogs, report = node(copy.deepcopy(POOL), llm_config(url, tmp_path), params)
    assert len(dialogs) == params["n_dialogs"] and report["dropped"] == {}
