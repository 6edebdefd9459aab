"""Data-quality flags (grounded, relevant, answer uses results) and the filters built on them."""

from __future__ import annotations

import copy

import pytest

from tests.pipelines.verification.conftest import multi_turn_sample
from toolace_kedro.pipelines.verification.config import QualityParams
from toolace_kedro.pipelines.verification.nodes import (
    apply_rules,
    deduplicate_dialogs,
    split_dialogs,
)
from toolace_kedro.pipelines.verification.quality import MEASURES, quality_flags
from toolace_kedro.pipelines.verification.report import (
    verification_metrics,
    verification_report,
)
from toolace_kedro.pipelines.verification.rules import check_sample
from toolace_kedro.toolcalls.words import content_words


def test_content_words_drop_stop_words_and_plurals():
    assert content_words("Find me the flights from JFK, please") == {"flight", "jfk"}
    assert content_words("search_flights") == {"search", "flight"}


def test_a_clean_single_call_dialog_is_grounded_relevant_and_uses_its_results(samples):
    assert quality_flags(samples["single"]) == {"grounded": True, "relevant": True, "answer_uses_results": True,
                                                "fluent": True}


def test_an_invented_argument_value_is_not_grounded(samples):
    sample = samples["single"]
    sample["messages"][1]["tool_calls"][0]["arguments"]["destination"] = "SFO"
    assert quality_flags(sample)["grounded"] is False
    # a value from an earlier tool result grounds a dependent call
    assert quality_flags(samples["dependent_nested"])["grounded"] is False  # 525 and the travellers' data: partly
    dependent = samples["dependent_nested"]
    dependent["messages"][3]["tool_calls"][0]["arguments"] = {"base": "EUR", "target": "CHF"}
    dependent["messages"][0]["content"] += " And back from EUR?"
    assert quality_flags(dependent)["grounded"] is True


def test_a_request_sharing_no_word_with_the_called_function_is_not_relevant(samples):
    sample = samples["single"]
    sample["messages"][0]["content"] = "JFK to LAX on 2025-03-01."
    assert quality_flags(sample)["relevant"] is False


def test_a_non_tool_request_is_relevant_when_no_shown_tool_fits_it(samples):
    assert quality_flags(samples["non_tool"]) == {"grounded": None, "relevant": True, "answer_uses_results": None,
                                                  "fluent": True}
    fitting = samples["non_tool"]
    fitting["messages"][0]["content"] = "Which recipe uses onions?"  # the recipe finder would serve it
    assert quality_flags(fitting)["relevant"] is False


def test_an_answer_that_ignores_the_results_is_flagged(samples):
    sample = samples["single"]
    sample["messages"][-1]["content"] = "Done."
    assert quality_flags(sample)["answer_uses_results"] is False


def test_a_multi_turn_dialog_is_measured_request_by_request():
    """Each request must share a word with what it calls and its answer use its own results (the
    last answer repeating the last results is not enough); the follow-up's value taken from the
    earlier result is grounded."""
    sample = multi_turn_sample()
    assert check_sample(sample) == []
    assert quality_flags(sample) == {"grounded": True, "relevant": True, "answer_uses_results": True, "fluent": True}
    ignores = copy.deepcopy(sample)
    ignores["messages"][3]["content"] = "Done, have a nice trip."  # the first request's answer
    assert quality_flags(ignores)["answer_uses_results"] is False
    off_topic = copy.deepcopy(sample)
    off_topic["messages"][4]["content"] = "Great, that one for 2 people."  # no word of book_flight
    assert quality_flags(off_topic)["relevant"] is False


def test_a_looping_message_is_not_fluent(samples):
    from toolace_kedro.pipelines.verification.quality import looping

    assert looping("The tool results: The tool results: The tool results: The tool's")
    assert not looping("The tool results: the flight UA1 leaves JFK, and the tool results say it is on time.")
    sample = samples["single"]
    sample["messages"][-1]["content"] = "20c, 20c, 20c, 20c, 20c, 20c"
    assert quality_flags(sample)["fluent"] is False
    assert quality_flags(samples["non_tool"])["fluent"] is True


def test_required_measures_reject_and_are_reported(samples):
    dialogs = [samples["single"], copy.deepcopy(samples["single"])]
    dialogs[1]["id"] = "s2"
    dialogs[1]["messages"][0]["content"] = "Find a flight for me out of JFK toward LAX on the first of March, 2025-03-01"
    dialogs[1]["messages"][1]["tool_calls"][0]["arguments"]["destination"] = "SFO"
    params = {"quality": {"require": ["grounded"]}, "layers": {"judges": False}}
    rules = apply_rules(dialogs, params)
    assert [o["quality_failed"] for o in rules["outcomes"]] == [[], ["quality.grounded"]]
    dedup = deduplicate_dialogs(dialogs, rules, params)
    judges = {"enabled": False, "seconds": 0.0, "outcomes": [None, None]}
    verified, rejected = split_dialogs(dialogs, rules, dedup, judges, params)
    assert [d["id"] for d in verified] == ["s1"]
    assert rejected[0]["meta"]["rejection"]["quality"] == ["quality.grounded"]
    report = verification_report(dialogs, rules, dedup, judges, params)
    assert report["rejections"]["quality.grounded"] == 1 and report["verified"] == 1
    assert report["quality"]["dialogs"]["grounded"] == {"n": 2, "passed": 1, "share": 0.5}
    assert report["quality"]["verified"]["grounded"] == {"n": 1, "passed": 1, "share": 1.0}
    assert verification_metrics(report)["quality.grounded"]["value"] == 1.0
    with pytest.raises(ValueError, match=r"quality\.require\.0\n.*Input should be 'grounded'.*input_value='polite'"):
        apply_rules(dialogs, {"quality": {"require": ["polite"]}})


def test_the_parameter_model_knows_every_measure():
    """``quality.require`` is checked by the model, so its choices must be the measures computed."""
    (choice,) = QualityParams.model_fields["require"].annotation.__args__
    assert choice.__args__ == MEASURES
