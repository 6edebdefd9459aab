"""multi_turn dialogs: follow-up requests whose calls take a value from the dialog's history."""

import copy
import json
import random

import pytest

from tests.pipelines.dialog_generation.conftest import PARAMS, scripted_dialog_answer
from tests.support.fakes import ScriptedLLM
from toolace_kedro.pipelines.dialog_generation.engine import run_dialogs, to_sample
from toolace_kedro.pipelines.dialog_generation.follow_up import (
    follow_up_request,
    history_value,
    reference,
    restates,
)
from toolace_kedro.pipelines.dialog_generation.report import dialog_statistics
from toolace_kedro.pipelines.dialog_generation.sampling import (
    carry_options,
    plan_dialogs,
    script,
)
from toolace_kedro.pipelines.verification.rules import check_sample
from toolace_kedro.toolcalls import (
    DialogSample,
    exchanges,
    from_toolace,
    from_trl,
    to_toolace,
    to_trl,
)


def _api(name, domain, props, returns):
    return {"name": name, "description": f"{name.replace('_', ' ').capitalize()}.", "domain": domain,
            "parameters": {"type": "object", "properties": {k: {"type": t} for k, t in props.items()},
                           "required": list(props)},
            "returns": {"type": "object", "properties": {k: {"type": t} for k, t in returns.items()}}}


#: a restaurant domain whose results feed the next request: a found restaurant is booked, a booking cancelled
POOL = [
    _api("find_restaurant", "Food/Restaurants", {"cuisine": "string"}, {"restaurant": "string", "rating": "number"}),
    _api("book_table", "Food/Restaurants", {"restaurant": "string", "guests": "integer"}, {"booking_id": "string"}),
    _api("cancel_booking", "Food/Restaurants", {"booking_id": "string"}, {"status": "string"}),
    _api("get_weather", "Weather/Forecast", {"city": "string"}, {"temperature": "number"}),
]


@pytest.fixture
def mt_params():
    params = copy.deepcopy(PARAMS)
    params.update(n_dialogs=8, type_mix={"multi_turn": 1}, distractors=0, value_source="sampler",
                  plan_agreement=True, call_values="stated", multi_turn={"follow_ups": 2, "same_api": 0.0})
    params["self_consistency"].update(samples=1, retries=1)
    return params


def test_a_follow_up_is_planned_on_an_api_that_takes_an_earlier_result():
    earlier = [(POOL[0], ["cuisine"])]
    assert carry_options(POOL[1], earlier) == (0, ["restaurant"])  # find_restaurant returns a restaurant
    assert carry_options(POOL[0], earlier) == (1, ["cuisine"])     # the same API: the value the user stated
    assert carry_options(POOL[3], earlier)[1] == ["city"]          # a string result of another name (last tier)
    assert carry_options(POOL[2], [(POOL[1], ["guests"])]) == (0, ["booking_id"])


def test_multi_turn_dialogs_follow_up_with_values_from_earlier_results(mt_params):
    """Each follow-up names the taken value only by reference, its call carries it; the dialog
    keeps the contract, round-trips, passes the rules; four requests per follow-up."""
    plans = [p for p in plan_dialogs(copy.deepcopy(POOL), mt_params) if p["targets"] == ["find_restaurant"]]
    assert plans and all(p["type"] == "multi_turn" and len(p["follow_ups"]) == 2 for p in plans)
    assert [f["target"] for f in plans[0]["follow_ups"]] == ["book_table", "cancel_booking"]
    llm = ScriptedLLM(scripted_dialog_answer)
    states, counts = run_dialogs(plans, llm, mt_params)
    assert len(llm.calls) == len(plans) * (4 + 2 * 4)  # the opening request and two follow-ups, four requests each
    assert counts["follow_ups_answered"] == 2 * len(plans)
    for state in states:
        sample = to_sample(state, "scripted")
        assert isinstance(sample, dict), sample
        DialogSample.model_validate(sample)
        assert check_sample(sample) == []
        assert from_toolace(json.loads(json.dumps(to_toolace(sample)))) == sample and from_trl(to_trl(sample)) == sample
        messages, follow_ups = sample["messages"], sample["meta"]["follow_ups"]
        assert len(follow_ups) == 2 and [s for s, _ in exchanges(messages)] == [0, 4, 8]
        for follow_up in follow_ups:
            turn = follow_up["turn"]
            results = [r["results"] for r in messages[turn - 2]["content"]]
            assert follow_up["source"] == "results" and follow_up["argument"] in results[0]
            assert follow_up["value"] == results[0][follow_up["argument"]]
            assert reference(follow_up["argument"], "results") in messages[turn]["content"]
            assert not restates(messages[turn]["content"], follow_up["value"])
            call = messages[turn + 1]["tool_calls"][0]
            assert call["name"] == follow_up["target"]
            assert call["arguments"][follow_up["argument"]] == follow_up["value"]
    stats = dialog_statistics([to_sample(s, "scripted") for s in states], {"counts": dict(counts)})
    assert stats["type_mix"] == {"multi_turn": len(plans)}
    assert stats["multi_turn"] == {"dialogs": len(plans), "follow_ups": 2 * len(plans), "mean_follow_ups": 2.0,
                                   "taken_from": {"results": 2 * len(plans)}, "follow_ups_dropped": {}}


def test_a_value_the_user_stated_earlier_is_taken_when_no_result_fits():
    dialog = [{"role": "user", "content": "Weather in Oslo?"},
              {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
              {"role": "tool", "content": [{"name": "get_weather", "results": {"temperature": 4.5}}]},
              {"role": "assistant", "content": "It is 4.5 degrees."}]
    assert history_value(POOL[3], "city", dialog, [{"city": "Oslo"}], {}, random.Random(0)) == ("Oslo", "user")
    assert history_value(POOL[3], "city", dialog, [{}], {}, random.Random(0)) is None
    assert history_value(POOL[3], "city", dialog, [{"city": "Oslo"}], {"when": "Oslo"}, random.Random(0)) is None


@pytest.mark.parametrize("plan_agreement", [True, False])
def test_a_follow_up_whose_call_misses_the_taken_value_is_dropped(mt_params, plan_agreement):
    """The second follow-up's call passes another booking id: after the retry it is removed and the
    dialog ends after the first follow-up (checked with plan_agreement off too: check_history)."""
    mt_params.update(value_source="llm", call_values="free", plan_agreement=plan_agreement)  # (the fake copies no value)
    plans = [p for p in plan_dialogs(copy.deepcopy(POOL), mt_params) if p["targets"] == ["find_restaurant"]]
    assert plans

    def misses(conv, params, schema):
        answer = json.loads(scripted_dialog_answer(conv, params, schema))
        for call in answer.get("calls") or []:
            if "booking_id" in call["arguments"]:
                call["arguments"]["booking_id"] = "BK-0000"
        return json.dumps(answer)

    states, counts = run_dialogs(plans, ScriptedLLM(misses), mt_params)
    assert counts["follow_ups_dropped.plan_disagreement"] == len(plans) and counts["follow_ups_answered"] == len(plans)
    assert counts["actions_resampled_inconsistent"] >= len(plans)
    for state in states:
        sample = to_sample(state, "scripted")
        assert len(sample["messages"]) == 8 and len(sample["meta"]["follow_ups"]) == 1
        assert len(state.agreement) == 4  # the removed follow-up's actions are gone too
    mt_params["multi_turn"]["min_follow_ups"] = 2
    states, counts = run_dialogs(plans, ScriptedLLM(misses), mt_params)
    assert all(s.dropped == "follow_up.plan_disagreement" for s in states)
    assert counts["dropped.follow_up.plan_disagreement"] == len(plans)


def test_the_script_grows_with_the_follow_ups(mt_params):
    plan = next(p for p in plan_dialogs(copy.deepcopy(POOL), mt_params) if p["type"] == "multi_turn")
    assert script(plan) == ["user", "call", "tool", "answer"] + ["follow_up", "call", "tool", "answer"] * 2
    tools = {t["name"] for t in plan["tools"]}
    assert {f["target"] for f in plan["follow_ups"]} <= tools  # shown from the start


def test_the_follow_up_grammar_names_the_reference_and_keeps_the_taken_digits_out():
    """The request must say "that booking id" and then its new values; with a taken value that
    has digits, the free text has none (a small model cannot spell the value out)."""
    import re

    view = {"id": "d-f1", "type": "single", "targets": ["book_table"], "tools": copy.deepcopy(POOL[:3]), "calls": 1,
            "missing": "restaurant", "missing_value": "Casa 21"}
    messages, schema = follow_up_request(view, [{"role": "user", "content": "Find me a Thai place."}],
                                         reference("restaurant", "results"), {"guests": 4}, topic=True)
    pattern = re.compile(schema["properties"]["request"]["pattern"])
    assert pattern.match("Great, book a table at that restaurant for 4 of us.")
    assert not pattern.match("Great, book Casa 21, that restaurant, for 4 of us.")  # restated
    assert not pattern.match("Great, at that restaurant for 4 of us.")  # no word of the topic
    assert "that restaurant" in messages[-1]["content"] and "Casa 21" not in messages[-1]["content"]
    assert reference("city", "user") == "the same city" and reference("bookingId", "results") == "that booking id"
