"""The deterministic reward of iTool's search (BFCL-style comparison with the ground truth)."""

import pytest

from toolace_kedro.pipelines.irft.reward import match_reward, normalise_value, reward_summary, word_overlap_f1

TRUTH = [{"name": "search_flights", "arguments": {"origin": "JFK", "destination": "LAX", "passengers": 2}}]


def test_exact_call_scores_one():
    assert match_reward('[search_flights(origin="JFK", destination="LAX", passengers=2)]', TRUTH, "") == 1.0


def test_values_normalised_like_bfcl():
    # case, spaces and ,./-_*^ in strings do not matter; an int equals a float of the same value
    assert match_reward('[search_flights(origin="j.f-k", destination=" lax", passengers=2.0)]', TRUTH, "") == 1.0
    assert normalise_value("New York") == normalise_value("new-york")
    assert normalise_value(True) != normalise_value(1)


def test_partial_credit_orders_answers():
    one_wrong_value = match_reward('[search_flights(origin="JFK", destination="SFO", passengers=2)]', TRUTH, "")
    missing_argument = match_reward('[search_flights(origin="JFK", destination="SFO")]', TRUTH, "")
    wrong_function = match_reward('[book_hotel(city="LAX")]', TRUTH, "")
    malformed = match_reward('[search_flights(origin="JFK", destination=', TRUTH, "")
    no_call = match_reward("I cannot help with that.", TRUTH, "")
    assert 1.0 > one_wrong_value > missing_argument > wrong_function > malformed > no_call
    assert one_wrong_value == pytest.approx(-0.6 + 1.6 * (0.4 + 0.3 + 0.3 * 2 / 3))
    assert wrong_function == pytest.approx(-0.6)
    assert (malformed, no_call) == (-0.8, -1.0)


def test_parallel_calls_are_order_free_and_extra_calls_cost():
    truth = [{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": {"b": "x"}}]
    assert match_reward('[g(b="x"), f(a=1)]', truth, "") == 1.0
    assert match_reward('[f(a=1)]', truth, "") == pytest.approx(-0.6 + 1.6 * 0.5)
    assert match_reward('[f(a=1), g(b="x"), f(a=2)]', truth, "") < 1.0


def test_text_answers():
    truth_text = "Which city do you want the weather for?"
    assert match_reward("Which city do you want the weather for?", None, truth_text) == 1.0
    assert 0 < match_reward("Which city, please?", None, truth_text) < 1
    assert match_reward('[get_weather(city="Paris")]', None, truth_text) == -1.0
    assert word_overlap_f1("a b c", "") == 0.0


def test_reward_summary():
    assert reward_summary([1.0, -1.0]) == {"count": 2, "mean": 0.0, "min": -1.0, "max": 1.0, "std": 1.0}
    assert reward_summary([]) == {"count": 0}
