"""Planning with sampled values, non-tool dialogs about an unrelated API, and the check that the
first call carries the values the user stated."""

import copy
import json

from tests.pipelines.dialog_generation.conftest import fake_value, scripted_dialog_answer
from tests.support.fakes import ScriptedLLM
from toolace_kedro.pipelines.dialog_generation import agents
from toolace_kedro.pipelines.dialog_generation.consistency import plan_agreement
from toolace_kedro.pipelines.dialog_generation.engine import run_dialogs, to_sample
from toolace_kedro.pipelines.dialog_generation.sampling import plan_dialogs, planned_parameters
from toolace_kedro.toolcalls import check_arguments


def _sampler_params(dialog_params):
    return {**dialog_params, "value_source": "sampler", "plan_agreement": True, "optional_share": 0.0,
            "non_tool": {"unrelated_request": 1.0}, "distractors": {0: 1, 1: 1},
            "self_consistency": {**dialog_params["self_consistency"], "samples": 1, "retries": 0}}


def test_sampled_values_are_typed_schema_valid_and_seeded(api_pool, dialog_params):
    params = _sampler_params(dialog_params)
    plans = plan_dialogs(api_pool, params)
    assert plan_dialogs(api_pool, params) == plans
    by_name = {a["name"]: a for a in api_pool}
    for plan in plans:
        if plan["type"] in ("single", "dependent", "clarify"):
            api = by_name[plan["targets"][0]]
            assert isinstance(plan["values"], dict) and not check_arguments(
                {**api["parameters"], "required": []}, plan["values"])
            assert plan["missing"] not in plan["values"]
            if plan["type"] == "clarify":
                missing = {plan["missing"]: plan["missing_value"]}
                assert not check_arguments({**api["parameters"], "required": []}, missing)
        if plan["type"] == "parallel":
            assert set(plan["values"]) == {"first", "second"}
    guests = [p["values"]["guests"] for p in plans if p.get("values") and "guests" in p["values"]]
    assert guests and all(type(g) is int for g in guests)  # an integer parameter gets an int, never "4"


def test_planned_parameters_are_the_stateable_required_ones_plus_optional_by_share(api_pool):
    import random

    table = next(a for a in api_pool if a["name"] == "book_table")
    assert planned_parameters(table, random.Random(0)) == ["restaurant", "guests"]
    assert planned_parameters(table, random.Random(0), leave_out="guests") == ["restaurant"]
    assert set(planned_parameters(table, random.Random(0), optional_share=1.0)) == {"restaurant", "guests", "date",
                                                                                   "area"}


def test_a_non_tool_dialog_asks_for_an_api_of_another_domain_that_is_not_shown(api_pool, dialog_params):
    plans = [p for p in plan_dialogs(api_pool, _sampler_params(dialog_params)) if p["type"] == "non_tool"]
    assert plans
    for plan in plans:
        topic = plan["topic"]
        shown = [t["name"] for t in plan["tools"]]
        assert topic["name"] not in shown and plan["targets"] == []
        assert all(t["domain"].split("/")[0] != topic["domain"].split("/")[0] for t in plan["tools"])
        view = agents.request_view(plan)
        assert view["targets"] == [topic["name"]] and view["tools"] == [topic]
        messages, _ = agents.user_request(plan, values=plan.get("values"))
        assert topic["name"] in messages[-1]["content"]
        assert not any(name in messages[-1]["content"] for name in shown)


def test_plan_agreement_compares_values_with_types_and_order_free_parallel_calls():
    plan = {"type": "single", "targets": ["f"], "missing": None}
    call = {"name": "f", "arguments": {"city": "São Paulo", "days": 3}}
    assert plan_agreement(plan, {"city": "sao paulo", "days": 3}, [call], 0) is False  # accents differ
    assert plan_agreement(plan, {"city": "São-Paulo", "days": 3.0}, [call], 0) is True
    assert plan_agreement(plan, {"city": "São Paulo", "days": "3"}, [call], 0) is False  # "3" is not 3
    assert plan_agreement(plan, {"city": "São Paulo"}, [call], 1) is True  # a later call is not checked
    clarify = {"type": "clarify", "targets": ["f"], "missing": "days", "missing_value": 4}
    assert plan_agreement(clarify, {"city": "São Paulo"}, [call], 0) is False
    parallel = {"type": "parallel", "targets": ["f"], "missing": None}
    calls = [{"name": "f", "arguments": {"city": "Lima"}}, {"name": "f", "arguments": {"city": "Oslo"}}]
    assert plan_agreement(parallel, {"first": {"city": "Oslo"}, "second": {"city": "Lima"}}, calls, 0)
    assert not plan_agreement(parallel, {"first": {"city": "Oslo"}, "second": {"city": "Rome"}}, calls, 0)


def _copying_llm(change: str | None = None):
    """A scripted model whose user states the planned values and whose assistant copies them into
    its call (or, with ``change``, replaces that argument's value)."""
    stated: dict[str, dict] = {}

    def answer(conv, params, schema):
        props = (schema or {}).get("properties", {})
        text = conv[-1]["content"]
        if "request" in props and "The values: " in text:
            values = json.loads(text.split("The values: ", 1)[1])
            request = "Please help me with " + " and ".join(agents._stated(values)) + " today."
            stated[request] = values
            return json.dumps({"request": request})
        if "calls" in props:
            values = next(v for r, v in stated.items() if r in text)
            out = json.loads(scripted_dialog_answer(conv, params, schema))
            for call in out["calls"]:
                call["arguments"].update(values.get("first", values) if "first" in values else values)
                if change in call["arguments"]:
                    call["arguments"][change] = fake_value({"type": "string"}) + "x"
            return json.dumps(out)
        return scripted_dialog_answer(conv, params, schema)

    return ScriptedLLM(answer)


def test_dialogs_whose_call_misses_a_stated_value_are_dropped(api_pool, dialog_params):
    params = _sampler_params(dialog_params)
    plans = [p for p in plan_dialogs(api_pool, params) if p["type"] == "single"
             and p["targets"] == ["get_weather"]][:2]
    assert plans
    states, counts = run_dialogs(copy.deepcopy(plans), _copying_llm(), params)
    samples = [to_sample(s, "scripted") for s in states]
    assert all(isinstance(s, dict) for s in samples), samples
    for sample, plan in zip(samples, plans):
        assert sample["messages"][1]["tool_calls"][0]["arguments"]["city"] == plan["values"]["city"]
        assert sample["meta"]["user_values"] == plan["values"]
    states, counts = run_dialogs(copy.deepcopy(plans), _copying_llm(change="city"), params)
    assert all(s.dropped == "plan_disagreement" for s in states)
    assert counts["dropped.plan_disagreement"] == len(plans)


def test_irrelevance_twins_repeat_a_request_under_tools_that_cannot_serve_it(api_pool, dialog_params):
    """A twin takes a single-call dialog's request and pairs it with APIs of other domains that share
    no content word with it; the engine replays the request and asks only for the reply."""
    from toolace_kedro.pipelines.dialog_generation.sampling import twin_plans

    params = {**_sampler_params(dialog_params), "non_tool": {"twins": 1.0}}
    source = {"id": "dlg-1", "type": "single", "tools": [api_pool[0]], "meta": {},
              "messages": [{"role": "user", "content": "What is the weather in Porto for 3 days?"},
                           {"role": "assistant", "content": "", "tool_calls": [
                               {"name": "get_weather", "arguments": {"city": "Porto", "days": 3}}]}]}
    twins = twin_plans([source, {**source, "id": "dlg-2", "type": "non_tool"}], api_pool, params)
    assert [t["id"] for t in twins] == ["dlg-1-twin"]
    twin = twins[0]
    assert twin["request"] == source["messages"][0]["content"] and twin["twin_of"] == "dlg-1"
    assert twin["topic"]["name"] == "get_weather"
    assert {t["domain"].split("/")[0] for t in twin["tools"]} == {"Food"}  # not Weather: another domain
    assert twin_plans([source], api_pool, {**params, "non_tool": {"twins": 0.0}}) == []
    states, _ = run_dialogs([twin], ScriptedLLM(scripted_dialog_answer), params)
    sample = to_sample(states[0], "scripted")
    assert isinstance(sample, dict), sample
    assert sample["messages"][0]["content"] == source["messages"][0]["content"]
    assert len(sample["messages"]) == 2 and not sample["messages"][1].get("tool_calls")
    assert sample["meta"]["twin_of"] == "dlg-1" and sample["meta"]["topic"] == "get_weather"
