"""De-duplication of near-identical requests and repeated answers."""

from __future__ import annotations

import copy

import pytest

from tests.pipelines.verification.conftest import clean_samples
from toolace_kedro.pipelines.verification.dedup import deduplicate, shingles

PARAMS = {"scope": "global", "request_threshold": 0.8, "answer_threshold": 0.9}


def _with(sample, request=None, answer=None, id_=None):
    out = copy.deepcopy(sample)
    if request is not None:
        out["messages"][0]["content"] = request
    if answer is not None:
        out["messages"][-1]["content"] = answer
    out["id"] = id_ or out["id"] + "'"
    return out


def test_shingles_normalise_case_punctuation_and_width():
    assert shingles("Find me a FLIGHT, from JFK!") == shingles("find me a flight from ｊｆｋ")
    assert shingles("Hi there") == frozenset([("hi", "there")])
    assert shingles("  ") == frozenset()


def test_near_identical_request_is_rejected_and_the_first_kept():
    s = clean_samples()["single"]
    samples = [s, _with(s, request="Find me a flight from JFK to LAX on 2025-03-01, please!", answer="UA1 it is."),
               _with(s, request="Show me hotels in Lisbon for two nights in May.", answer="Here are three.")]
    out = deduplicate(samples, PARAMS)
    assert out[0] is None and out[2] is None
    assert out[1]["reason"] == "dedup.request" and out[1]["duplicate_of"] == 0 and out[1]["similarity"] >= 0.8


def test_repeated_answer_is_rejected():
    a, b = clean_samples()["non_tool"], clean_samples()["single"]
    b = _with(b, answer="  cutting an ONION releases a gas that irritates the eyes ")
    assert deduplicate([a, b], PARAMS) == [None, {"reason": "dedup.answer", "duplicate_of": 0, "similarity": 1.0}]


def test_threshold_and_scope():
    s = clean_samples()["single"]
    other_tools = _with(s, answer="Another answer entirely here.")
    other_tools["tools"] = other_tools["tools"][:1]
    assert deduplicate([s, other_tools], PARAMS)[1]["reason"] == "dedup.request"
    assert deduplicate([s, other_tools], {**PARAMS, "scope": "tools"}) == [None, None]
    reworded = _with(s, request="Find me a flight from JFK to LAX on 2025-03-02.", answer="Something else.")
    assert deduplicate([s, reworded], PARAMS)[1]["similarity"] == 0.818  # 9 of 11 distinct trigrams shared
    assert deduplicate([s, reworded], {**PARAMS, "request_threshold": 0.95}) == [None, None]


def test_bad_scope_is_an_error():
    with pytest.raises(ValueError, match="scope"):
        deduplicate([], {"scope": "domain"})


def test_clean_samples_are_distinct_but_the_multi_turn_one_opens_like_the_single_one():
    names = list(clean_samples())
    out = dict(zip(names, deduplicate(list(clean_samples().values()), PARAMS)))
    assert out.pop("multi_turn") == {"reason": "dedup.request", "duplicate_of": names.index("single"), "similarity": 1.0}
    assert set(out.values()) == {None}
