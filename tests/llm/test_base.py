"""The client contract every backend shares, exercised through a scripted backend."""

import json

import pytest

from tests.support.fakes import ScriptedLLM
from toolace_kedro.llm import LLMBatchError, LLMConfig, build_llm
from toolace_kedro.llm.base import Completion

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


def conv(text):
    return [{"role": "user", "content": text}]


def test_cache_hits_skip_the_backend(tmp_path):
    llm = ScriptedLLM(lambda c, p, s: c[-1]["content"].upper(), cache_dir=str(tmp_path))
    assert llm.chat_batch([conv("a"), conv("b")]) == ["A", "B"]
    again = ScriptedLLM(lambda c, p, s: pytest.fail("should be cached"), cache_dir=str(tmp_path))
    assert again.chat_batch([conv("a"), conv("b")]) == ["A", "B"]
    assert again.usage.cache_hits == 2 and again.usage.requests == 0


def test_cache_key_covers_sampling_schema_and_model(tmp_path):
    llm = ScriptedLLM(lambda c, p, s: json.dumps({"n": 1}), cache_dir=str(tmp_path))
    llm.chat_batch([conv("a")])
    llm.chat_batch([conv("a")], temperature=0.1)
    llm.chat_batch([conv("a")], json_schema=SCHEMA)
    other_model = ScriptedLLM(lambda c, p, s: "x", cache_dir=str(tmp_path), model="other")
    other_model.chat_batch([conv("a")])
    assert len(llm.calls) == 3 and len(other_model.calls) == 1


def test_stop_when_names_a_rule_and_keys_only_the_requests_that_use_it(tmp_path):
    from toolace_kedro.llm.response_cache import request_key

    llm = ScriptedLLM(lambda c, p, s: json.dumps(p, sort_keys=True), cache_dir=str(tmp_path))
    plain, ruled = llm.chat_batch([conv("q"), conv("q")], per_request=[None, {"stop_when": "python_calls"}])
    assert "stop_when" not in json.loads(plain) and json.loads(ruled)["stop_when"] == "python_calls"
    assert len(llm.calls) == 2  # two requests, two cache entries
    # a request without a rule keeps the key it had before rules existed: old caches stay valid
    sampling = {k: getattr(llm.config, k) for k in ("temperature", "top_p", "max_tokens", "seed", "stop")}
    old_key = request_key({"backend": "scripted", "model": "scripted", "messages": conv("q"), "sampling": sampling,
                           "schema": None, "occurrence": 0})
    assert llm.cache.get_many([old_key])[old_key][0] == plain
    with pytest.raises(ValueError, match=r"unknown stop_when rule 'sometimes'; known: \['python_calls', 'tool_calls'\]"):
        llm.chat_batch([conv("q")], stop_when="sometimes")


def test_repeated_requests_are_separate_samples(tmp_path):
    seen = []

    def respond(c, p, s):
        seen.append(p["seed"])
        return f"sample-{p['seed']}"

    llm = ScriptedLLM(respond, cache_dir=str(tmp_path), seed=7)
    out = llm.chat_batch([conv("q")] * 3)
    assert out == ["sample-7", "sample-8", "sample-9"]
    # a rerun of the same batch hits the cache for each occurrence
    llm2 = ScriptedLLM(lambda c, p, s: pytest.fail("cached"), cache_dir=str(tmp_path), seed=7)
    assert llm2.chat_batch([conv("q")] * 3) == out


def test_schema_invalid_outputs_are_re_asked_with_more_tokens():
    budgets = []

    def respond(c, p, s):
        budgets.append(p["max_tokens"])
        if len(budgets) < 3:
            return Completion(text='{"n": ', truncated=True)
        return '{"n": 3}'

    llm = ScriptedLLM(respond, max_tokens=10, schema_retries=2)
    assert llm.chat_batch([conv("x")], json_schema=SCHEMA) == ['{"n": 3}']
    assert budgets == [10, 20, 40]
    assert llm.usage.retries["schema_invalid"] == 2


def test_failures_are_reported_per_request():
    def respond(c, p, s):
        return Completion(error="http_500") if "bad" in c[-1]["content"] else "ok"

    llm = ScriptedLLM(respond)
    with pytest.raises(LLMBatchError) as info:
        llm.chat_batch([conv("good"), conv("bad"), conv("good too")])
    assert info.value.results == ["ok", None, "ok"]
    assert info.value.failures == {1: "http_500"}
    assert llm.chat_batch([conv("bad"), conv("fine")], errors="skip") == [None, "ok"]
    assert llm.usage.failures["http_500"] == 2


def test_schema_failures_after_retries_are_reported():
    llm = ScriptedLLM(lambda c, p, s: '{"n": "three"}', schema_retries=1)
    assert llm.chat_batch([conv("x")], json_schema=SCHEMA, errors="skip") == [None]
    assert llm.usage.failures["schema_invalid"] == 1


def test_usage_is_accounted():
    llm = ScriptedLLM(lambda c, p, s: Completion(text="ok", prompt_tokens=5, completion_tokens=2))
    llm.chat_batch([conv("a"), conv("b")])
    assert llm.usage.as_dict() == {"requests": 2, "cache_hits": 0, "prompt_tokens": 10, "completion_tokens": 4,
                                   "retries": {}, "failures": {}}


def test_config_is_validated():
    with pytest.raises(ValueError, match="temprature"):
        build_llm({"backend": "transformers", "temprature": 0.5})
    with pytest.raises(ValueError):
        LLMConfig(backend="tgi")
    with pytest.raises(ValueError, match="base_url"):
        build_llm({"backend": "openai", "model": "m"})
    with pytest.raises(TypeError, match="unknown sampling"):
        ScriptedLLM(lambda c, p, s: "x").chat_batch([conv("a")], top_k=3)


def test_answers_are_cached_as_they_arrive_so_a_crash_loses_only_the_rest(tmp_path):
    def respond(c, p, s):
        if c[-1]["content"] == "q3":
            raise KeyboardInterrupt  # the process is killed while answering the 4th request
        return c[-1]["content"].upper()

    with pytest.raises(KeyboardInterrupt):
        ScriptedLLM(respond, cache_dir=str(tmp_path)).chat_batch([conv(f"q{i}") for i in range(6)])
    resumed = ScriptedLLM(lambda c, p, s: c[-1]["content"].upper(), cache_dir=str(tmp_path))
    assert resumed.chat_batch([conv(f"q{i}") for i in range(6)]) == [f"Q{i}" for i in range(6)]
    assert resumed.usage.cache_hits == 3 and [c[-1]["content"] for c in resumed.calls] == ["q3", "q4", "q5"]


def test_one_schema_per_conversation():
    other = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    seen = []

    def respond(c, p, s):
        seen.append(s)
        return json.dumps({"n": 1}) if s == SCHEMA else (json.dumps({"s": "x"}) if s == other else "free text")

    llm = ScriptedLLM(respond)
    assert llm.chat_batch([conv("a"), conv("b"), conv("c")], json_schema=[SCHEMA, other, None]) == [
        '{"n": 1}', '{"s": "x"}', "free text"]
    assert seen == [SCHEMA, other, None]
    with pytest.raises(ValueError, match="2 schemas for 3"):
        llm.chat_batch([conv("a")] * 3, json_schema=[SCHEMA, None])


def test_flows_advance_independently_and_their_followups_are_cached(tmp_path):
    """Each flow gets its answers back as a list and its next requests are asked for at once;
    a rerun is served from the cache; per-request sampling reaches the backend."""
    from toolace_kedro.llm.base import ChatRequest

    def respond(c, p, s):
        return json.dumps({"n": len(c[-1]["content"]) + int(p["temperature"] * 10)})

    def flow(word, steps, log):
        text = word
        for _ in range(steps):
            answers = yield [ChatRequest(conv(text), SCHEMA, {"temperature": 0.2}), ChatRequest(conv(text + "!"))]
            log.append(list(answers))
            text += str(json.loads(answers[0])["n"])

    logs = {w: [] for w in ("a", "bb", "ccc")}
    llm = ScriptedLLM(respond, cache_dir=str(tmp_path))
    llm.run_flows([flow(w, n, logs[w]) for w, n in (("a", 3), ("bb", 1), ("ccc", 2))])
    assert [len(v) for v in logs.values()] == [3, 1, 2]
    # "a": 1 char + temperature 0.2 → 3; "a!" at the default temperature 0.7 → 9; then "a3" → 4
    assert logs["a"][0] == ['{"n": 3}', '{"n": 9}'] and logs["a"][1][0] == '{"n": 4}'
    assert llm.usage.requests == 12
    again_logs = {w: [] for w in logs}
    again = ScriptedLLM(lambda c, p, s: pytest.fail("should be cached"), cache_dir=str(tmp_path))
    again.run_flows([flow(w, n, again_logs[w]) for w, n in (("a", 3), ("bb", 1), ("ccc", 2))])
    assert again_logs == logs and again.usage.cache_hits == 12


def test_a_failed_request_reaches_its_flow_with_the_reason():
    from toolace_kedro.llm.base import ChatRequest

    got = []

    def flow():
        answers = yield [ChatRequest(conv("ok"), SCHEMA), ChatRequest(conv("bad"), SCHEMA)]
        got.append((list(answers), dict(answers.failures)))

    llm = ScriptedLLM(lambda c, p, s: '{"n": 1}' if c[-1]["content"] == "ok" else "not json", schema_retries=1)
    llm.run_flows([flow()])
    assert got == [(['{"n": 1}', None], {1: "schema_invalid"})]
    assert llm.usage.retries["schema_invalid"] == 1


def test_a_waiting_flow_is_woken_as_others_answer_and_once_more_when_nothing_is_left():
    """``yield WAIT``: the flow is resumed after every answer any flow gets; when no request is
    left anywhere it is resumed with ``idle`` set and must go on."""
    from toolace_kedro.llm import WAIT
    from toolace_kedro.llm.base import ChatRequest

    seen = []

    def producer(k):
        answers = yield [ChatRequest(conv(f"p{k}"), SCHEMA)]
        seen.append(json.loads(answers[0])["n"])

    def consumer(needed, log):
        idle = False
        while len(seen) < needed and not idle:
            idle = (yield WAIT).idle
        log.append((len(seen), idle))
        answers = yield [ChatRequest(conv("after"), SCHEMA)]
        log.append(json.loads(answers[0])["n"])

    early, late = [], []
    llm = ScriptedLLM(lambda c, p, s: json.dumps({"n": len(c[-1]["content"])}))
    llm.run_flows([consumer(2, early), producer(0), producer(1), consumer(5, late)])
    assert seen == [2, 2]
    assert early == [(2, False), 5] and late == [(2, True), 5]
    assert llm.usage.requests == 4


def test_a_flow_that_waits_with_nothing_left_to_wait_for_is_an_error():
    from toolace_kedro.llm import WAIT

    def stuck():
        while True:
            yield WAIT

    with pytest.raises(RuntimeError, match="WAIT"):
        ScriptedLLM(lambda c, p, s: "{}").run_flows([stuck()])
