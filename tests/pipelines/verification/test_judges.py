"""The model layer with a scripted LLM (pass, fail, votes, malformed → re-asked → unavailable) and
once with the real embedded model."""

from __future__ import annotations

import json

import pytest

from tests.pipelines.verification.conftest import clean_samples, multi_turn_sample
from tests.support.fakes import ScriptedLLM
from toolace_kedro.pipelines.verification.judge_prompts import QUESTION
from toolace_kedro.pipelines.verification.judges import (
    JUDGES,
    judge_dialogs,
    judge_requests,
    verdict_schema,
)

PARAMS = {"votes": 1, "temperature": 0.0, "max_tokens": 48, "reason_max_chars": 60, "on_unavailable": "pass"}


def _judge_of(messages) -> str:
    """Which judge a request is for (by the question closing its last turn)."""
    return next(name for name, question in QUESTION.items() if messages[-1]["content"].endswith(question))


def verdict(kind="pass", reason="looks right"):
    return json.dumps({"reason": reason, "verdict": kind})


class CountingLLM(ScriptedLLM):
    """Also counts the backend calls, to see that all requests went in one batch."""

    def __init__(self, respond, **config):
        super().__init__(respond, **config)
        self.batches = []

    def _generate(self, conversations, sampling, schemas, on_result):
        self.batches.append(len(conversations))
        super()._generate(conversations, sampling, schemas, on_result)


def test_verdict_schema_puts_the_reason_first_and_bounds_it():
    schema = verdict_schema(60)
    assert list(schema["properties"]) == ["reason", "verdict"]
    assert schema["properties"]["reason"]["maxLength"] == 60
    assert schema["properties"]["verdict"]["enum"] == ["pass", "fail"]


def test_reason_pattern_and_worked_examples():
    assert verdict_schema(40, "^[A-Za-z ]{1,40}$")["properties"]["reason"]["pattern"] == "^[A-Za-z ]{1,40}$"
    [plain] = judge_requests(clean_samples()["single"], ["consistency"])[0]["consistency"]
    [shown] = judge_requests(clean_samples()["single"], ["consistency"], examples=True)[0]["consistency"]
    assert [m["role"] for m in plain] == ["system", "user"]
    assert [m["role"] for m in shown] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [json.loads(m["content"])["verdict"] for m in shown if m["role"] == "assistant"] == ["pass", "fail"]
    assert shown[-1] == plain[-1]


def test_each_judge_applies_where_it_should():
    samples = clean_samples()
    assert set(judge_requests(samples["single"], list(JUDGES))[0]) == set(JUDGES)
    assert set(judge_requests(samples["non_tool"], list(JUDGES))[0]) == {"consistency"}
    # the weather API declares no returns: nothing for the tool-response judge
    assert set(judge_requests(samples["parallel_toolace_types"], list(JUDGES))[0]) == {"hallucination", "consistency"}
    assert set(judge_requests(samples["single"], ["consistency"])[0]) == {"consistency"}


def test_hallucination_prompt_carries_the_evidence():
    sample = clean_samples()["single"]
    sample["messages"][1]["tool_calls"][0]["arguments"]["destination"] = "SFO"
    requests, evidence = judge_requests(sample, ["hallucination"])
    prompt = requests["hallucination"][0][1]["content"]
    assert 'Values found in the conversation: origin="JFK", date="2025-03-01"' in prompt
    assert 'Values NOT FOUND in the conversation: destination="SFO"' in prompt
    assert [e["value"] for e in evidence["grounding"] if not e["found_in"]] == ["SFO"]


def test_pass_and_fail_verdicts_in_one_batch():
    def respond(messages, sampling, schema):
        assert schema == verdict_schema(60) and sampling["max_tokens"] == 48
        name = _judge_of(messages)
        return verdict("fail", "answer ignores the date") if name == "consistency" and "Lima" in messages[-1]["content"] \
            else verdict("pass")

    samples = list(clean_samples().values())
    llm = CountingLLM(respond)
    outcomes = judge_dialogs(samples, llm, PARAMS)
    assert llm.batches == [sum(len(c) for s in samples for c in judge_requests(s, list(JUDGES))[0].values())]
    by_id = {s["id"]: o for s, o in zip(samples, outcomes)}
    assert by_id["p1"]["judges"]["consistency"] == {"verdict": "fail", "reason": "answer ignores the date",
                                                    "votes": ["fail"]}
    assert by_id["s1"]["judges"]["hallucination"]["verdict"] == "pass"
    assert set(by_id["n1"]["judges"]) == {"consistency"}


def test_a_multi_turn_dialog_is_judged_request_by_request():
    """One case per request and judge; a fail on the follow-up fails the judge, naming the request;
    the follow-up's case shows the earlier result it refers to."""
    sample = multi_turn_sample()
    requests, evidence = judge_requests(sample, list(JUDGES))
    assert {name: len(cases) for name, cases in requests.items()} == dict.fromkeys(JUDGES, 2)
    follow_up = requests["consistency"][1][-1]["content"]
    assert follow_up.startswith("Earlier tool results: ") and "UA1" in follow_up and "JFK" not in follow_up
    assert "flight_id=" in requests["hallucination"][1][-1]["content"]
    assert "flight_id=" not in requests["hallucination"][0][-1]["content"]
    assert [e["message"] for e in evidence["grounding"]] == [1, 1, 1, 5, 5]

    def respond(messages, sampling, schema):
        return verdict("fail", "wrong seats") if "book_flight" in messages[-1]["content"] else verdict("pass")

    outcome = judge_dialogs([sample], ScriptedLLM(respond), PARAMS)[0]["judges"]
    assert outcome["consistency"] == {"verdict": "fail", "reason": "request 2: wrong seats", "votes": ["pass", "fail"]}
    assert outcome["tool_response"]["verdict"] == "fail" and outcome["tool_response"]["votes"] == ["pass", "fail"]
    assert outcome["hallucination"]["reason"].startswith("request 2: ")


def test_votes_majority_decides_and_a_tie_fails():
    def respond(messages, sampling, schema):  # the client gives repeated requests distinct seeds
        return verdict("fail" if sampling["seed"] % 3 == 0 else "pass", f"seed {sampling['seed']}")

    sample = clean_samples()["non_tool"]
    three = judge_dialogs([sample], ScriptedLLM(respond, seed=1), {**PARAMS, "votes": 3, "temperature": 0.7})
    assert three[0]["judges"]["consistency"]["votes"] == ["pass", "pass", "fail"]  # seeds 1, 2, 3
    assert three[0]["judges"]["consistency"]["verdict"] == "pass"
    two = judge_dialogs([sample], ScriptedLLM(respond, seed=2), {**PARAMS, "votes": 2, "temperature": 0.7})
    assert two[0]["judges"]["consistency"]["votes"] == ["pass", "fail"]
    assert two[0]["judges"]["consistency"] == {"verdict": "fail", "reason": "seed 3", "votes": ["pass", "fail"]}


def test_malformed_verdicts_are_reasked_then_unavailable():
    def respond(messages, sampling, schema):
        return '{"reason": "cut' if _judge_of(messages) == "tool_response" else verdict("pass")

    llm = ScriptedLLM(respond, schema_retries=2)
    outcome = judge_dialogs([clean_samples()["single"]], llm, PARAMS)[0]
    assert outcome["judges"]["tool_response"] == {"verdict": "unavailable", "reason": "", "votes": ["unavailable"]}
    assert sum(1 for c in llm.calls if _judge_of(c) == "tool_response") == 3  # asked, then re-asked twice
    assert llm.usage.failures == {"schema_invalid": 1}
    assert outcome["judges"]["hallucination"]["verdict"] == "pass"


def test_disabled_judges_are_not_asked():
    llm = ScriptedLLM(lambda m, s, sc: verdict())
    params = {**PARAMS, "hallucination": {"enabled": False}, "tool_response": {"enabled": False}}
    outcomes = judge_dialogs(list(clean_samples().values()), llm, params)
    assert all(set(o["judges"]) == {"consistency"} for o in outcomes)
    assert {_judge_of(c) for c in llm.calls} == {"consistency"}


@pytest.mark.slow
def test_embedded_model_returns_well_formed_counted_verdicts(tmp_path):
    """The real 135M model judges a few dialogs: every verdict is pass or fail (or counted as
    unavailable), with a reason within its bound. Values are the model's; not asserted."""
    from toolace_kedro.llm import build_llm

    samples = [clean_samples()[k] for k in ("single", "non_tool", "dependent_nested")]
    llm = build_llm({"model": "smollm2-135m-instruct", "batch_size": 8, "progress": False,
                     "cache_dir": str(tmp_path), "temperature": 0.0})
    outcomes = judge_dialogs(samples, llm, PARAMS)
    asked = sum(len(c) for s in samples for c in judge_requests(s, list(JUDGES))[0].values())
    results = [r for o in outcomes for r in o["judges"].values()]
    assert len(results) == asked == 7
    for r in results:
        assert r["verdict"] in ("pass", "fail", "unavailable") and len(r["votes"]) == 1
        assert r["verdict"] == "unavailable" or 1 <= len(r["reason"]) <= 60
    assert llm.usage.requests >= asked
