"""The openai backend against a real HTTP server on loopback that injects faults."""

import json
import logging
import os
import time

import pytest

from tests.support.openai_server import serve_in_thread
from toolace_kedro.llm import LLMBatchError, build_llm, register_credentials
from toolace_kedro.llm.base import ChatRequest


def client(base_url, **overrides):
    config = {"backend": "openai", "base_url": base_url, "model": "test-model", "max_concurrency": 64,
              "timeout_s": 2.0, "max_retries": 3, "backoff_s": 0.01, "max_backoff_s": 0.2, "progress": False,
              "api_key_env": "TOOLACE_TEST_KEY", "credentials": None}
    config.update(overrides)
    return build_llm(config)


def conv(text):
    return [{"role": "user", "content": text}]


def test_64_concurrent_requests_with_faults_complete():
    faults = ["", "FAULT:500x2", "FAULT:429x1", "FAULT:garbagex1", "FAULT:nochoicesx2", "FAULT:truncatedx1",
              "FAULT:timeoutx1", ""]
    prompts = [f"request {i} {faults[i % len(faults)]}" for i in range(64)]
    with serve_in_thread(latency=0.05) as (url, state):
        llm = client(url, timeout_s=1.0)
        start = time.perf_counter()
        out = llm.chat_batch([conv(p) for p in prompts])
        elapsed = time.perf_counter() - start
    assert out == [f"echo: {p}" for p in prompts]
    assert state.max_in_flight > 32, "requests were not sent concurrently"
    assert elapsed < 5
    assert set(state.faults_served) == {"500", "429", "garbage", "nochoices", "truncated", "timeout"}
    retries = llm.usage.retries
    # 8 planned timeouts; on a loaded machine a few other attempts may also be answered after the client's
    # timeout, and each such attempt is then counted as a timeout instead of as its planned fault
    unplanned = retries["timeout"] - 8
    assert 0 <= unplanned <= 8, retries
    assert 16 - unplanned <= retries["http_500"] <= 16 and 8 - unplanned <= retries["http_429"] <= 8, retries
    assert 24 - unplanned <= retries["malformed_response"] <= 24 and retries["truncated_body"] >= 1, retries
    assert llm.usage.failures == {}
    assert llm.usage.requests == 64 and llm.usage.completion_tokens > 0


def test_faults_beyond_the_retry_limit_are_reported_for_that_request_only():
    with serve_in_thread() as (url, state):
        llm = client(url, max_retries=2)
        with pytest.raises(LLMBatchError) as info:
            llm.chat_batch([conv("fine"), conv("FAULT:500x9"), conv("FAULT:400x1"), conv("FAULT:garbagex9")])
    assert info.value.results[0] == "echo: fine"
    assert info.value.failures == {1: "http_500", 2: "http_400", 3: "malformed_response"}
    assert state.attempts[json.dumps(conv("FAULT:400x1"), sort_keys=True) + "0"] == 1, "4xx must not be retried"


def test_retry_after_is_honoured():
    with serve_in_thread(retry_after="1") as (url, _):
        llm = client(url, backoff_s=0.0, max_backoff_s=5)
        start = time.perf_counter()
        assert llm.chat_batch([conv("FAULT:429x1")]) == ["echo: FAULT:429x1"]
        assert time.perf_counter() - start >= 0.95


def test_cache_hits_skip_the_server(tmp_path):
    with serve_in_thread() as (url, state):
        llm = client(url, cache_dir=str(tmp_path))
        first = llm.chat_batch([conv(f"q{i}") for i in range(10)])
        served = state.requests
        again = client(url, cache_dir=str(tmp_path)).chat_batch([conv(f"q{i}") for i in range(10)])
        assert again == first and state.requests == served


def test_structured_output_uses_response_format():
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    with serve_in_thread() as (url, _):
        out = client(url).chat_batch([conv("hello")], json_schema=schema)
    assert json.loads(out[0]) == {"echo": "hello"}


def test_api_key_from_env_or_credentials_never_logged(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with serve_in_thread() as (url, state):
        monkeypatch.setenv("TOOLACE_TEST_KEY", "sk-env-secret")
        llm = client(url)
        llm.chat_batch([conv("a")])
        monkeypatch.delenv("TOOLACE_TEST_KEY")
        register_credentials({"vllm": {"api_key": "sk-file-secret"}})
        try:
            llm2 = client(url, credentials="vllm")
            llm2.chat_batch([conv("b")])
        finally:
            register_credentials({})
    assert state.auth_headers == ["Bearer sk-env-secret", "Bearer sk-file-secret"]
    assert "secret" not in caplog.text and "secret" not in repr(llm) + repr(llm2.config)


def test_works_inside_a_running_event_loop():
    import asyncio

    with serve_in_thread() as (url, _):
        llm = client(url)

        async def inside():
            return llm.chat_batch([conv("from a notebook")])

        assert asyncio.run(inside()) == ["echo: from a notebook"]


def test_flows_keep_requests_in_flight_without_waiting_for_each_other():
    """32 three-step flows with 50 ms latency: each flow's next request is sent when its own
    answer is in (three waves of ~50 ms, not one wave per step of the slowest flow), and the
    follow-ups are concurrent with each other."""
    from toolace_kedro.llm.base import ChatRequest

    def flow(i, log):
        text = f"flow {i}"
        for step in range(3):
            answers = yield [ChatRequest(conv(f"{text} step {step}"))]
            text = answers[0]
        log.append(text)

    log = []
    with serve_in_thread(latency=0.05) as (url, state):
        llm = client(url)
        start = time.perf_counter()
        llm.run_flows([flow(i, log) for i in range(32)])
        elapsed = time.perf_counter() - start
    assert sorted(log) == sorted(f"echo: echo: echo: flow {i} step 0 step 1 step 2" for i in range(32))
    assert state.max_in_flight > 16 and llm.usage.requests == 96
    assert elapsed < 2.0


def test_a_flow_that_raises_stops_the_batch_and_leaves_no_task_behind(caplog):
    """An exception in a flow (a stopped run) comes out of run_flows; the requests still in
    flight are cancelled and every task's exception is retrieved (none is logged at shutdown)."""
    import gc

    def flow(i):
        yield [ChatRequest(conv(f"request {i}"))]
        raise RuntimeError(f"stop {i}")

    with serve_in_thread(latency=0.01) as (url, _):
        with pytest.raises(RuntimeError, match="stop"):
            client(url).run_flows([flow(i) for i in range(8)])
    gc.collect()
    assert "never retrieved" not in caplog.text


def test_an_adapter_is_refused_not_ignored():
    """The server cannot apply a local adapter: ignoring it would hand back (and cache) the base
    model's answers as the adapter's."""
    with pytest.raises(ValueError, match="cannot apply the adapter '/models/sft_adapter'.*--lora-modules"):
        client("http://localhost:1/v1", adapter="/models/sft_adapter")


def test_the_session_and_its_connections_are_kept_between_calls():
    with serve_in_thread(latency=0.01) as (url, state):
        llm = client(url, max_concurrency=8)
        assert llm.chat_batch([conv(f"first {i}") for i in range(16)]) == [f"echo: first {i}" for i in range(16)]
        session = llm._connection.session
        assert llm.chat_batch([conv(f"second {i}") for i in range(16)]) == [f"echo: second {i}" for i in range(16)]
        assert llm._connection.session is session
        assert 0 < len(state.peers) <= 8, "the second call opened new connections"
        llm.close()


def test_close_releases_the_session_and_loop_and_a_later_call_opens_new_ones():
    with serve_in_thread() as (url, _):
        llm = client(url)
        llm.chat_batch([conv("a")])
        session, loop = llm._connection.session, llm._connection.runner.get_loop()
        llm.close()
        assert session.closed and loop.is_closed()
        assert llm.chat_batch([conv("b")]) == ["echo: b"]
        assert llm._connection.session is not session
        llm.close()
        llm.close()  # twice is harmless


def test_a_client_nobody_closed_releases_its_session_when_collected(caplog):
    import gc

    with serve_in_thread() as (url, _):
        llm = client(url)
        llm.chat_batch([conv("a")])
        session, loop = llm._connection.session, llm._connection.runner.get_loop()
        del llm
        gc.collect()
    assert session.closed and loop.is_closed()
    assert "Unclosed" not in caplog.text


def test_calls_inside_a_running_event_loop_keep_the_session():
    import asyncio

    with serve_in_thread() as (url, state):
        llm = client(url, max_concurrency=4)

        async def notebook_cells():
            first = llm.chat_batch([conv(f"cell 1 {i}") for i in range(8)])
            session = llm._connection.session
            second = llm.chat_batch([conv(f"cell 2 {i}") for i in range(8)])
            return first + second, session

        out, session = asyncio.run(notebook_cells())
        assert out == [f"echo: cell {c} {i}" for c in (1, 2) for i in range(8)]
        assert llm._connection.session is session and len(state.peers) <= 4
        assert llm.chat_batch([conv("outside")]) == ["echo: outside"]  # the same loop, now on this thread
        llm.close()


def test_two_threads_can_call_one_client_at_once():
    import concurrent.futures

    with serve_in_thread(latency=0.1) as (url, _):
        llm = client(url)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(llm.chat_batch, [conv(f"thread {t} {i}") for i in range(8)]) for t in range(2)]
            results = [job.result() for job in jobs]
        assert results == [[f"echo: thread {t} {i}" for i in range(8)] for t in range(2)]
        llm.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_alone():
    with serve_in_thread() as (url, state):
        llm = client(url, max_concurrency=4)
        llm.chat_batch([conv(f"parent {i}") for i in range(4)])
        session, peers = llm._connection.session, set(state.peers)
        pid = os.fork()
        if pid == 0:  # the child: answers through connections of its own, then leaves without clean-up
            ok = False
            try:
                ok = llm.chat_batch([conv("child")]) == ["echo: child"] and llm._connection.session is not session
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        child_peers = state.peers - peers
        assert len(child_peers) == 1
        assert llm.chat_batch([conv(f"parent again {i}") for i in range(4)]) == [f"echo: parent again {i}"
                                                                                 for i in range(4)]
        assert llm._connection.session is session and state.peers - peers == child_peers
        assert not llm.usage.retries and not llm.usage.failures
        llm.close()
