"""Clean canonical samples of every dialog type, for the verification tests."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import FLIGHT_API, WEATHER_API, flight_messages

RATE_API = {
    "name": "exchange_rate", "description": "Current exchange rate between two currencies.",
    "parameters": {"type": "object", "properties": {
        "base": {"type": "string", "pattern": "^[A-Z]{3}$"}, "target": {"type": "string", "pattern": "^[A-Z]{3}$"}},
        "required": ["base", "target"]},
    "returns": {"type": "object", "properties": {"rate": {"type": "number"}}},
}
#: nested arguments: an array of objects with required fields, and an array of arrays
TRIP_API = {
    "name": "book_trip", "description": "Book a trip for several travellers, paid in a currency.",
    "parameters": {"type": "dict", "properties": {
        "travellers": {"type": "array", "items": {"type": "dict", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}, "required": ["name", "age"]}},
        "budget": {"type": "float", "description": "in the currency below"},
        "currency": {"type": "string", "enum": ["EUR", "USD", "CHF"]},
        "legs": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "contact": {"type": "string", "format": "email"}},
        "required": ["travellers", "budget", "currency"]},
    "returns": {"type": "dict", "properties": {"booking_id": {"type": "string"}}},
}
BOOK_API = {
    "name": "book_flight", "description": "Book seats on a flight.",
    "parameters": {"type": "object", "properties": {"flight_id": {"type": "string"},
                                                    "passengers": {"type": "integer", "minimum": 1}},
                   "required": ["flight_id", "passengers"]},
    "returns": {"type": "object", "properties": {"booking_id": {"type": "string"}}},
}
RECIPE_API = {
    "name": "Recipe Finder API", "description": "Search recipes by ingredient.",
    "parameters": {"type": "dict", "properties": {"ingredient": {"type": "string"}, "max_minutes": {"type": "int"}},
                   "required": ["ingredient"]},
}


def _sample(id_, type_, tools, messages):
    return {"id": id_, "type": type_, "tools": copy.deepcopy(tools), "messages": messages, "meta": {"generator": "test"}}


def clean_samples() -> dict[str, dict]:
    """One clean sample per case the rules must pass (fresh copies on every call)."""
    return {
        "single": _sample("s1", "single", [FLIGHT_API, WEATHER_API], flight_messages()),
        "parallel_toolace_types": _sample("p1", "parallel", [WEATHER_API, FLIGHT_API], [
            {"role": "user", "content": "Weather in Osaka for 12 hours and in Lima for 6.5 hours?"},
            {"role": "assistant", "content": "", "tool_calls": [  # 12: an integer for a "float" (number)
                {"name": "Weather Forecast API", "arguments": {"city": "Osaka", "hours": 12}},
                {"name": "Weather Forecast API", "arguments": {"city": "Lima", "hours": 6.5}}]},
            {"role": "tool", "content": [{"name": "Weather Forecast API", "results": {"sky": "clear"}},
                                         {"name": "Weather Forecast API", "results": {"sky": "rain"}}]},
            {"role": "assistant", "content": "Osaka will be clear; Lima will see rain."}]),
        "dependent_nested": _sample("d1", "dependent", [RATE_API, TRIP_API], [
            {"role": "user", "content": "Book a trip for Ana (34) and Ben (9) with 500 CHF; what is CHF in EUR?"},
            {"role": "assistant", "content": "", "thought": "rate first",
             "tool_calls": [{"name": "exchange_rate", "arguments": {"base": "CHF", "target": "EUR"}}]},
            {"role": "tool", "content": [{"name": "exchange_rate", "results": {"rate": 1.05}}]},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "book_trip", "arguments": {
                "travellers": [{"name": "Ana", "age": 34}, {"name": "Ben", "age": 9}], "budget": 525,
                "currency": "EUR", "legs": [["GVA", "LIS"], ["LIS", "GVA"]], "contact": "ana@example.org"}}]},
            {"role": "tool", "content": [{"name": "book_trip", "results": {"booking_id": "BK-42"}}]},
            {"role": "assistant", "content": "Booked (BK-42): 500 CHF is 525 EUR at a rate of 1.05."}]),
        "non_tool": _sample("n1", "non_tool", [RECIPE_API, FLIGHT_API], [
            {"role": "user", "content": "Why do onions make people cry when they cut them?"},
            {"role": "assistant", "content": "Cutting an onion releases a gas that irritates the eyes."}]),
        "clarify": _sample("c1", "clarify", [FLIGHT_API], [
            {"role": "user", "content": "Find me a flight from JFK to LAX."},
            {"role": "assistant", "content": "On which date do you want to fly?"},
            {"role": "user", "content": "On 2025-03-01, please."},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "search_flights", "arguments": {
                "origin": "JFK", "destination": "LAX", "date": "2025-03-01", "passengers": 2, "cabin": "economy"}}]},
            {"role": "tool", "content": [{"name": "search_flights", "results": None}]},
            {"role": "assistant", "content": "I found no flight from JFK to LAX on March 1."}]),
        "multi_turn": _sample("m1", "single", [FLIGHT_API, RECIPE_API], flight_messages() + [
            {"role": "user", "content": "Thanks! Any pasta recipe with tomato?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"name": "Recipe Finder API", "arguments": {"ingredient": "tomato", "max_minutes": 30}}]},
            {"role": "tool", "content": [{"name": "Recipe Finder API", "results": ["Pasta al pomodoro"]}]},
            {"role": "assistant", "content": "Try pasta al pomodoro: it takes under 30 minutes."}]),
        "chinese": _sample("z1", "non_tool", [RECIPE_API], [
            {"role": "user", "content": "为什么切洋葱会让人流泪？"},
            {"role": "assistant", "content": "洋葱被切开时会释放一种刺激眼睛的气体。"}]),
    }


@pytest.fixture
def samples() -> dict[str, dict]:
    return clean_samples()


def multi_turn_sample() -> dict:
    """A multi_turn dialog: a flight search, then a follow-up that books the flight found (its id
    taken from the result, not restated)."""
    return _sample("f1", "multi_turn", [FLIGHT_API, BOOK_API], flight_messages() + [
        {"role": "user", "content": "Great, book that flight for 2 passengers."},
        {"role": "assistant", "content": "", "tool_calls": [
            {"name": "book_flight", "arguments": {"flight_id": "UA1", "passengers": 2}}]},
        {"role": "tool", "content": [{"name": "book_flight", "results": {"booking_id": "BK-7"}}]},
        {"role": "assistant", "content": "Booked: BK-7, two seats on UA1."}])
