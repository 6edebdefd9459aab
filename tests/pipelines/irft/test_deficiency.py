"""Deficiency mining: the top share by perplexity of the tool-call and of the non-tool answers."""

import copy

import pytest

from toolace_kedro.pipelines.irft.deficiency import (
    request_targets,
    search_target,
    select_deficient,
    select_failures,
)


def _text_sample(dialog, i):
    sample = copy.deepcopy(dialog)
    sample["id"] = f"t{i}"
    sample["type"] = "non_tool"
    sample["messages"] = [{"role": "user", "content": f"Tell me a joke number {i}."},
                          {"role": "assistant", "content": f"Here is joke {i}."}]
    return sample


def _call_sample(dialog, i):
    sample = copy.deepcopy(dialog)
    sample["id"] = f"c{i}"
    sample["messages"][0]["content"] = f"Find me a flight from JFK to LAX on 2025-03-01, request {i}."
    return sample


def test_search_target_is_the_first_assistant_turn(dialog):
    target = search_target(dialog)
    assert target["kind"] == "tool_call"
    assert target["calls"] == dialog["messages"][1]["tool_calls"]
    assert target["answer"] == '[search_flights(origin="JFK", destination="LAX", date="2025-03-01")]'
    assert [m["role"] for m in target["context"]] == ["system", "user"]
    assert "search_flights" in target["context"][0]["content"]


def test_search_target_rejects_non_dialogs():
    with pytest.raises(ValueError, match="bad"):
        search_target({"id": "bad"})


def test_select_keeps_top_ratio_of_each_group(dialog):
    samples = [_call_sample(dialog, i) for i in range(10)] + [_text_sample(dialog, i) for i in range(4)]
    nll = {s["messages"][0]["content"]: float(i) for i, s in enumerate(samples)}
    seen = []

    def score(conversations):
        seen.extend(conversations)
        return [nll[conv[1]["content"]] for conv in conversations]

    mined, report = select_deficient(samples, score, ratio=0.3)
    assert report["groups"]["tool_call"]["mined"] == 3  # ceil(0.3 * 10)
    assert report["groups"]["non_tool"]["mined"] == 2   # ceil(0.3 * 4)
    assert sorted(m["id"] for m in mined if m["kind"] == "tool_call") == ["c7", "c8", "c9"]
    assert sorted(m["id"] for m in mined if m["kind"] == "non_tool") == ["t2", "t3"]
    # each conversation ends with the scored answer, the first assistant turn
    assert all(conv[-1]["role"] == "assistant" and len(conv) == 3 for conv in seen)
    assert mined[0]["perplexity"] == pytest.approx(2.718281828 ** mined[0]["nll"], rel=1e-4)


def test_max_samples_cuts_groups_in_proportion(dialog):
    samples = [_call_sample(dialog, i) for i in range(20)] + [_text_sample(dialog, i) for i in range(20)]
    mined, report = select_deficient(samples, lambda convs: [float(i) for i in range(len(convs))], 0.5,
                                     max_samples=4)
    assert report["groups"]["tool_call"]["mined"] == 2
    assert report["groups"]["non_tool"]["mined"] == 2
    assert len(mined) == 4


def test_max_samples_keeps_a_small_group(dialog):
    samples = [_call_sample(dialog, i) for i in range(20)] + [_text_sample(dialog, 0)]
    mined, report = select_deficient(samples, lambda convs: [1.0] * len(convs), 1.0, max_samples=4)
    assert (report["groups"]["tool_call"]["mined"], report["groups"]["non_tool"]["mined"]) == (3, 1)


def test_bad_ratio():
    with pytest.raises(ValueError, match="ratio"):
        select_deficient([], lambda c: [], ratio=0)


def test_mining_skips_sft_train_records_that_are_not_dialogs(tmp_path, dialog, tiny_model_dir, irft_params):
    import json

    from toolace_kedro.datasets import BadInputError, JSONLinesDataset
    from toolace_kedro.pipelines.irft.nodes import mine_deficiencies

    path = tmp_path / "sft_train.jsonl"
    samples = [_call_sample(dialog, i) for i in range(3)] + [_text_sample(dialog, 0)]
    lines = [json.dumps(s) for s in samples]
    lines[1:1] = ['{"id": "c9", "messages": [{"role": "user", "content": "x"}]}', '{"id": ']
    path.write_text("\n".join(lines) + "\n")
    mined, report = mine_deficiencies(JSONLinesDataset(filepath=str(path)).load(), tiny_model_dir, irft_params)
    assert report["samples"] == 4 and mined
    block = report["skipped_input"]["sft_train"]
    assert block["by_reason"] == {"bad_json": 1, "not_canonical": 1}
    assert block["examples"][1].startswith(f"{path}:2 (id 'c9'): not_canonical: ")
    path.write_text(lines[1] + "\n")
    with pytest.raises(BadInputError, match=rf"^sft_train \({path}\): no usable record"):
        mine_deficiencies(JSONLinesDataset(filepath=str(path)).load(), "/no/model/loaded", irft_params)


def test_answer_verdicts_name_the_failure_kind(dialog):
    from toolace_kedro.pipelines.irft.deficiency import answer_verdict

    target = search_target(dialog)
    right = '[search_flights(destination="lax", origin="JFK", date="2025-03-01")]'  # BFCL's string comparison
    assert answer_verdict(target, right) == (True, None)
    assert answer_verdict(target, "No flight function fits.") == (False, "declined")
    assert answer_verdict(target, '[search_flights(origin="JFK"') == (False, "unparseable")
    assert answer_verdict(target, '[flights.search(origin="JFK", destination="LAX", date="2025-03-01")]') == \
        (False, "wrong_function")
    assert answer_verdict(target, '[search_flights(origin="JFK", destination="LAX")]') == (False, "wrong_arguments")
    assert answer_verdict(target, '[search_flights(origin="JFK", destination="SFO", date="2025-03-01")]') == \
        (False, "wrong_values")
    text = search_target(_text_sample(dialog, 0))
    assert answer_verdict(text, "Any words at all.") == (True, None)
    assert answer_verdict(text, right) == (False, "called_on_non_tool")


def test_failure_mining_keeps_the_wrong_answers_and_every_verdict(dialog):
    from toolace_kedro.pipelines.irft.deficiency import select_failures

    candidates = [search_target(_call_sample(dialog, i)) for i in range(3)] + [search_target(_text_sample(dialog, 9))]
    for n, c in enumerate(candidates):
        c["nll"] = float(n)
    answers = ['[search_flights(origin="JFK", destination="LAX", date="2025-03-01")]', "I cannot.",
               '[search_flights(origin="JFK", destination="LAX", date="2025-03-02")]', "[search_flights()]"]
    mined, report = select_failures(candidates, answers, max_samples=2)
    assert report["candidates"] == 4 and report["correct"] == 1 and report["failures"] == 3
    assert report["failure_kinds"]["declined"] == 1 and report["failure_kinds"]["called_on_non_tool"] == 1
    assert [v["correct"] for v in report["verdicts"]] == [True, False, False, False]
    assert len(mined) == 2 and {m["kind"] for m in mined} == {"tool_call", "non_tool"}
    assert all(m["policy_answer"] and m["failure"] for m in mined)
    assert mined[0]["id"] == "c2"  # within a group, the highest perplexity first


def test_balanced_failures_fill_a_group_with_what_it_got_right(dialog):
    """Four tool-call failures and two right non-tool answers: unbalanced, all four mined samples
    push towards calling; balanced, half are non-tool samples the policy got right (retained)."""
    from toolace_kedro.pipelines.irft.deficiency import select_failures

    candidates = [search_target(_call_sample(dialog, i)) for i in range(4)]
    candidates += [search_target(_text_sample(dialog, i)) for i in (7, 8)]
    for n, c in enumerate(candidates):
        c["nll"] = float(n)
    answers = ["I cannot."] * 4 + ["Sorry, no tool does that."] * 2
    mined, report = select_failures(candidates, answers, max_samples=4)
    assert [m["kind"] for m in mined] == ["tool_call"] * 4 and report["retained"] == 0
    mined, report = select_failures(candidates, answers, max_samples=4, balance=True)
    assert [m["kind"] for m in mined] == ["tool_call", "tool_call", "non_tool", "non_tool"]
    assert report["retained"] == 2 and all(m.get("retained") and "policy_answer" not in m for m in mined[2:])
    assert [m["id"] for m in mined[:2]] == ["c3", "c2"]  # the failures with the highest perplexity
    # a group short of candidates leaves its share to the other; null max_samples mines every candidate
    mined, _ = select_failures(candidates[:5], answers[:5], max_samples=4, balance=True)
    assert [m["kind"] for m in mined] == ["tool_call", "tool_call", "tool_call", "non_tool"]
    assert len(select_failures(candidates, answers, balance=True)[0]) == 6


def test_contrasts_are_the_other_decision_under_the_same_tools(dialog):
    """A tool-call target gets the decline of a non-tool sample with its tool list (its twin), else
    any decline; a non-tool target the call of a sample with its tools, else none."""
    from toolace_kedro.pipelines.irft.deficiency import attach_contrasts

    call, twin = _call_sample(dialog, 1), _text_sample(dialog, 2)  # same tools (the fixture's)
    alone = _text_sample(dialog, 3)
    alone["tools"] = [{"name": "weather", "description": "Weather of a city.",
                       "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    samples = [call, twin, alone]
    mined = [search_target(s) for s in samples]
    assert attach_contrasts(mined, samples) == 2
    assert mined[0]["contrast"] == {"id": "t2", "answer": "Here is joke 2."}
    assert mined[1]["contrast"] == {"id": "c1", "answer": search_target(call)["answer"]}
    assert "contrast" not in mined[2]
    lone_call = _call_sample(dialog, 4)
    lone_call["tools"] = alone["tools"]
    mined = [search_target(lone_call)]
    assert attach_contrasts(mined, [lone_call, alone, twin]) == 1 and mined[0]["contrast"]["id"] == "t3"
    mined = [search_target(lone_call)]
    assert attach_contrasts(mined, [lone_call, twin]) == 1 and mined[0]["contrast"]["id"] == "t2"  # any decline


def _multi_turn(dialog):
    """The flight search, then a follow-up request (a search on another date) with its call and answer."""
    sample = copy.deepcopy(dialog)
    sample.update(id="m1", type="multi_turn")
    sample["messages"] += [
        {"role": "user", "content": "And the same route the day after?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "search_flights", "arguments": {
            "origin": "JFK", "destination": "LAX", "date": "2025-03-02"}}]},
        {"role": "tool", "content": [{"name": "search_flights", "results": {"flights": [{"id": "DL7"}]}}]},
        {"role": "assistant", "content": "DL7 flies that route on March 2."}]
    return sample


def test_request_targets_are_the_turns_that_answer_a_user_turn(dialog):
    sample = _multi_turn(dialog)
    targets = request_targets(sample)
    assert [t["turn"] for t in targets] == [1, 5] and targets[0] == search_target(sample)
    later = search_target(sample, 5)
    assert later == targets[1] and later["kind"] == "tool_call" and 'date="2025-03-02"' in later["answer"]
    assert [m["role"] for m in later["context"]] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert later["context"][-1]["content"] == "And the same route the day after?"
    assert search_target(sample, 3) is not None and search_target(sample, 2) is None  # (a tool turn)


def test_mining_can_select_a_later_turn_of_a_multi_turn_dialog(dialog):
    """turns: requests -- every request turn is scored with the dialog up to it and the dialog's
    hardest is its one target (so counts stay per dialog); turns: first keeps the first turn."""
    samples = [_multi_turn(dialog)] + [_call_sample(dialog, i) for i in range(3)]

    def score(conversations):  # the follow-up's call is the hardest answer of all
        return [5.0 if "day after" in conv[-2]["content"] else 1.0 + 0.1 * n for n, conv in enumerate(conversations)]

    mined, report = select_deficient(samples, score, ratio=0.5, turns="requests")
    assert report["turns_scored"] == 5 and report["later_turn_targets"] == 1 and report["scored"] == 4
    top = mined[0]
    assert (top["id"], top["turn"], top["nll"]) == ("m1", 5, 5.0)
    assert top["context"][-1]["content"] == "And the same route the day after?"
    failed = select_failures([top], ["no call"])[1]["verdicts"]
    assert failed == [{"id": "m1", "kind": "tool_call", "turn": 5, "correct": False, "failure": "declined"}]
    mined, report = select_deficient(samples, score, ratio=0.5, turns="first")
    assert report["turns_scored"] == 4 and report["later_turn_targets"] == 0
    assert all(t["turn"] == 1 for t in mined)
    with pytest.raises(ValueError, match="turns"):
        select_deficient(samples, score, ratio=0.5, turns="last")
