"""Synthetic test-set metrics: first assistant action of canonical dialogs."""

from __future__ import annotations

import copy

import pytest

from toolace_kedro.pipelines.evaluation.synthetic import (
    first_action,
    first_action_prompt,
    normalise_value,
    predicted_calls,
    score_synthetic,
)


def _dialog(dialog_id: str, kind: str, action: dict) -> dict:
    return {"id": dialog_id, "type": kind, "tools": [],
            "messages": [{"role": "user", "content": "hello"}, {"role": "assistant", **action},
                         {"role": "user", "content": "thanks"}, {"role": "assistant", "content": "bye"}]}


def _calls(*calls) -> dict:
    return {"content": "", "tool_calls": [{"name": n, "arguments": a} for n, a in calls]}


FLIGHT = {"origin": "JFK", "destination": "LAX", "date": "2025-03-01", "passengers": 2}


@pytest.fixture
def references():
    return [
        _dialog("d1", "single", _calls(("search_flights", FLIGHT))),
        _dialog("d2", "single", _calls(("search_flights", FLIGHT))),
        _dialog("d3", "parallel", _calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"}))),
        _dialog("d4", "non_tool", {"content": "The capital of France is Paris."}),
        _dialog("d5", "clarify", {"content": "Which date would you like to fly?"}),
    ]


PREDICTIONS = [
    # case, punctuation and 2 vs 2.0 do not matter
    '[search_flights(origin="jfk", destination="LAX", date="2025/03/01", passengers=2.0)]',
    # right function, one wrong argument: 3 of 4 triples
    '[search_flights(origin="JFK", destination="SFO", date="2025-03-01", passengers=2)]',
    # JSON form, calls in the other order
    '[{"name": "get_weather", "arguments": {"city": "Rome"}}, {"name": "get_weather", "arguments": {"city": "paris"}}]',
    # a call where the reference answers in text
    "[search_flights(origin='JFK', destination='LAX', date='2025-03-01')]",
    # a clarifying question: no call
    "Which day do you want to leave?",
]


def test_metrics_overall_and_by_type(references):
    report = score_synthetic(references, PREDICTIONS)
    overall = report["overall"]
    assert (overall["dialogs"], overall["call_dialogs"], overall["no_call_dialogs"]) == (5, 3, 2)
    assert overall["exact_call_accuracy"] == pytest.approx(2 / 3)
    assert overall["name_accuracy"] == 1.0
    # 4 + 4 + 2 reference triples, as many predicted, 4 + 3 + 2 shared
    assert overall["argument_precision"] == overall["argument_recall"] == pytest.approx(9 / 10)
    assert overall["argument_f1"] == pytest.approx(9 / 10)
    assert overall["no_call_accuracy"] == 0.5
    assert overall["action_accuracy"] == pytest.approx(3 / 5)
    assert overall["undecodable_rate"] == 0.0
    by_type = report["by_type"]
    assert set(by_type) == {"single", "parallel", "non_tool", "clarify"}
    assert by_type["single"]["exact_call_accuracy"] == 0.5
    assert by_type["single"]["argument_recall"] == pytest.approx(7 / 8)
    assert by_type["parallel"]["exact_call_accuracy"] == 1.0
    assert by_type["non_tool"]["no_call_accuracy"] == 0.0 and by_type["non_tool"]["exact_call_accuracy"] is None
    assert by_type["clarify"]["no_call_accuracy"] == 1.0 and by_type["clarify"]["argument_f1"] is None


def test_text_and_wrong_calls_count_against_the_call_metrics(references):
    predictions = ["I would search for flights.", "[book_flight(origin='JFK')]",
                   '[get_weather(city="Paris")]', "[]", "```\n[ask(q=1)]\n```"]
    overall = score_synthetic(references, predictions)["overall"]
    assert overall["exact_call_accuracy"] == 0.0
    assert overall["name_accuracy"] == 0.0  # d3 predicts one of the two calls
    assert overall["undecodable_rate"] == pytest.approx(1 / 3)
    assert overall["argument_recall"] == pytest.approx(1 / 10)  # only city=Paris
    assert overall["argument_precision"] == pytest.approx(1 / 2)
    assert overall["argument_f1"] == pytest.approx(2 * 0.5 * 0.1 / 0.6)
    assert overall["no_call_accuracy"] == 0.5  # "[]" abstains, a fenced call does not


def test_predictions_by_id_and_misalignment(references):
    by_id = {d["id"]: p for d, p in zip(references, PREDICTIONS)}
    assert score_synthetic(references, by_id) == score_synthetic(references, PREDICTIONS)
    del by_id["d3"]
    with pytest.raises(ValueError, match="d3"):
        score_synthetic(references, by_id)
    with pytest.raises(ValueError, match="4 predictions for 5"):
        score_synthetic(references, PREDICTIONS[:4])
    assert score_synthetic([], [])["overall"]["action_accuracy"] is None


def test_first_action_and_its_prompt(dialog):
    index, calls = first_action(dialog)
    assert index == 1 and calls[0]["name"] == "search_flights"
    prompt = first_action_prompt(dialog)
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert "search_flights" in prompt[0]["content"] and prompt[1]["content"].startswith("Find me a flight")
    answer_only = copy.deepcopy(dialog)
    answer_only["messages"] = [dialog["messages"][0], {"role": "assistant", "content": "No flights today."}]
    assert first_action(answer_only) == (1, None)
    with pytest.raises(ValueError, match="no assistant message"):
        first_action({"id": "x", "messages": [{"role": "user", "content": "hi"}]})


def test_normalisation_and_decoding():
    assert normalise_value("New York, NY") == normalise_value("new-york ny") == "newyorkny"
    assert normalise_value(2) == normalise_value(2.0) and normalise_value(True) is True
    assert normalise_value({"b": (1, "X y")}) == {"b": [1.0, "xy"]}
    assert predicted_calls(None) == [] and predicted_calls("no calls here") == []
    assert predicted_calls("[f(a=2*3)]") == []  # not a literal: never evaluated
