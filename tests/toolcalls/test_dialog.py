import pytest
from pydantic import ValidationError

from toolace_kedro.toolcalls import DialogSample, contract_problems


def test_valid_sample_round_trips(dialog):
    sample = DialogSample.model_validate(dialog)
    assert sample.to_dict() == dialog
    assert contract_problems(dialog) == []


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d["messages"].pop(0), "start with a user"),
    (lambda d: d["messages"].pop(), "end with an assistant"),
    (lambda d: d["messages"].pop(2), "without a tool turn"),
    (lambda d: d["messages"][2]["content"][0].update(name="other"), "do not match"),
    (lambda d: d["messages"][2]["content"].append({"name": "search_flights", "results": {}}), "do not match"),
    (lambda d: d["messages"].insert(1, {"role": "tool", "content": [{"name": "x", "results": 1}]}), "cannot follow"),
    (lambda d: d["messages"].insert(1, {"role": "user", "content": "again"}), "cannot follow"),
    (lambda d: d["messages"][1].pop("tool_calls"), "tool turn without a preceding call"),
])
def test_contract_violations(dialog, mutate, problem):
    mutate(dialog)
    assert any(problem in p for p in contract_problems(dialog))
    with pytest.raises(ValidationError):
        DialogSample.model_validate(dialog)


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(type="weird"),
    lambda d: d.update(id=""),
    lambda d: d["messages"][1]["tool_calls"][0].update(arguments="a=1"),
    lambda d: d["messages"][0].update(extra=1),
    lambda d: d["tools"][0].pop("parameters"),
])
def test_model_rejects_bad_fields(dialog, mutate):
    mutate(dialog)
    with pytest.raises(ValidationError):
        DialogSample.model_validate(dialog)


@pytest.mark.parametrize("raw", [None, {}, {"messages": "x"}, {"messages": []}, {"messages": [1, 2]}])
def test_contract_problems_never_raise(raw):
    assert contract_problems(raw)


def test_dialog_problem_says_why_a_record_is_not_canonical(dialog):
    from toolace_kedro.toolcalls import dialog_problem

    assert dialog_problem(dialog) is None
    assert dialog_problem(["x"]) == "not_an_object: a JSON list"
    assert dialog_problem({**dialog, "messages": "oops"}) == "not_canonical: messages: Input should be a valid list"
    swapped = {**dialog, "messages": dialog["messages"][::-1]}
    assert dialog_problem(swapped).startswith("not_canonical: dialog must start with a user turn")


def test_exchanges_cut_a_dialog_into_its_requests(dialog):
    """A user turn after an answer from tool results opens a follow-up; a user turn after a
    question goes on with the same request. A row without a type is guessed multi_turn then."""
    from toolace_kedro.toolcalls import exchanges, from_toolace, to_toolace

    follow_up = [{"role": "user", "content": "And on 2025-03-02?"},
                 {"role": "assistant", "content": "", "tool_calls": [{"name": "search_flights", "arguments": {
                     "origin": "JFK", "destination": "LAX", "date": "2025-03-02"}}]},
                 {"role": "tool", "content": [{"name": "search_flights", "results": {"flights": []}}]},
                 {"role": "assistant", "content": "No flight that day."}]
    clarify = [{"role": "user", "content": "A flight to LAX?"}, {"role": "assistant", "content": "From where?"},
               *dialog["messages"][:1], *dialog["messages"][1:]]
    assert exchanges(dialog["messages"]) == [(0, 4)] and exchanges(clarify) == [(0, 6)] and exchanges([]) == []
    two = {**dialog, "type": "multi_turn", "messages": dialog["messages"] + follow_up}
    assert exchanges(two["messages"]) == [(0, 4), (4, 8)]
    assert DialogSample.model_validate(two).to_dict() == two
    row = to_toolace(two)
    row.pop("type", None)
    assert from_toolace(row)["type"] == "multi_turn"
