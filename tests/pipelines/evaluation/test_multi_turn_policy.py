"""The multi-turn policy loop: BFCL's prompt-mode conversation, step limit and batching, with a
scripted policy that replays the ground truth (its trajectories must pass)."""

from __future__ import annotations

import importlib
import time

import pytest

from tests.pipelines.evaluation.conftest import AGREEMENT
from tests.pipelines.evaluation.multi_turn_cases import keyword_turns
from tests.support.fakes import ScriptedLLM
from toolace_kedro.datasets.bfcl_multi_turn import (
    MULTI_TURN_CATEGORIES,
    load_multi_turn_category,
)
from toolace_kedro.llm.base import Completion, LLMBatchError
from toolace_kedro.pipelines.evaluation.multi_turn import (
    check_trajectory,
    score_multi_turn,
)
from toolace_kedro.pipelines.evaluation.multi_turn_policy import run_multi_turn
from toolace_kedro.toolcalls.bfcl_prompt import prompt_constant

DONE = "I have done what you asked."


class GroundTruthPolicy:
    """Answers each step with the next ground-truth call of the turn (all of a turn's calls in one
    step when there are more than ``per_step_up_to``), then with prose, which ends the turn; the
    entry is recognised by its first user message (unique within a group)."""

    def __init__(self, entries: list[dict], per_step_up_to: int = 10) -> None:
        self.by_first = {entry["question"][0][-1]["content"]: keyword_turns(entry) for entry in entries}
        assert len(self.by_first) == len(entries), "entries run together must differ in their first message"
        self.per_step_up_to = per_step_up_to

    def __call__(self, messages, sampling, schema):
        users = [i for i, m in enumerate(messages) if m["role"] == "user"]
        calls = self.by_first[messages[users[0]]["content"]][len(users) - 1]
        step = sum(m["role"] == "assistant" for m in messages[users[-1]:])
        steps = [calls[i:i + 1] for i in range(len(calls))] if len(calls) <= self.per_step_up_to else [calls]
        return "[" + ", ".join(c.render() for c in steps[step]) + "]" if step < len(steps) else DONE


def _groups(entries: list[dict]) -> list[list[dict]]:
    """Entries split so that no two of a group share their first user message."""
    groups: list[list[dict]] = []
    for entry in entries:
        first = entry["question"][0][-1]["content"]
        group = next((g for g in groups if all(e["question"][0][-1]["content"] != first for e in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(entry)
    return groups


@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_replaying_the_ground_truth_passes(category):
    entries = load_multi_turn_category(category)
    started, requests = time.perf_counter(), 0
    trajectories = {}
    for group in _groups(entries):
        llm = ScriptedLLM(GroundTruthPolicy(group))
        for entry, trajectory in zip(group, run_multi_turn(llm, group, temperature=0.0), strict=True):
            trajectories[entry["id"]] = trajectory
        requests += len(llm.calls)
    scores = score_multi_turn(category, entries, [trajectories[e["id"]] for e in entries])
    assert scores["correct"] == len(entries) == 200, scores
    AGREEMENT[f"multi_turn.policy_loop.{category}.ground_truth_replayed_pass"] = scores["correct"]
    AGREEMENT[f"multi_turn.policy_loop.{category}.steps_asked"] = requests
    assert time.perf_counter() - started < 120


def test_messages_are_bfcls(official_bfcl):
    """A miss_func entry: turn 0 as BFCL's prompt-mode handler sends it, each step's tool messages
    named by BFCL's decoded call, the held-back functions' turn with BFCL's message."""
    category = "multi_turn_miss_func"
    entry = load_multi_turn_category(category, sample_size=None)[0]
    reference = next(e for e in official_bfcl.utils.load_dataset_entry(category) if e["id"] == entry["id"])
    llm = ScriptedLLM(GroundTruthPolicy([entry]))
    (trajectory,) = run_multi_turn(llm, [entry])
    assert check_trajectory(entry, trajectory) == (True, "ok")
    first = official_bfcl.decoder.system_prompt_pre_processing_chat_model(
        [dict(m) for m in reference["question"][0]], reference["function"], entry["id"])
    assert llm.calls[0] == first
    final = llm.calls[-1]
    step_text = trajectory[0][0]
    at = final.index({"role": "assistant", "content": step_text})
    tool = final[at + 1]
    assert tool["role"] == "tool" and [tool["name"]] == official_bfcl.decoder.default_decode_execute_prompting(step_text)
    prompts = importlib.import_module("bfcl_eval.constants.default_prompts")
    (turn, docs), = reference["missed_function"].items()
    held_back = prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING.format(functions=docs)
    users = [m["content"] for m in final if m["role"] == "user"]
    assert users[int(turn)] == held_back and held_back not in final[0]["content"]
    assert [m for m in final if m["role"] == "system"] == [final[0]]


def test_step_limit_force_quits():
    entry = load_multi_turn_category("multi_turn_base", sample_size=None)[0]
    assert prompt_constant("MAXIMUM_STEP_LIMIT") == 20
    llm = ScriptedLLM(lambda messages, sampling, schema: "[pwd()]")
    (trajectory,) = run_multi_turn(llm, [entry])
    assert len(llm.calls) == 21 and trajectory == [["[pwd()]"] * 21]
    assert check_trajectory(entry, trajectory)[1].startswith("force_terminated")
    (short,) = run_multi_turn(ScriptedLLM(lambda *a: "[pwd()]"), [entry], max_steps=2)
    assert short == [["[pwd()]"] * 3]
    # BFCL's limit on real data: a long-context turn of more than twenty calls, one call per step
    long_turn = next(e for e in load_multi_turn_category("multi_turn_long_context") if e["id"].endswith("_38"))
    (cut,) = run_multi_turn(ScriptedLLM(GroundTruthPolicy([long_turn], per_step_up_to=100)), [long_turn])
    assert check_trajectory(long_turn, cut)[1].startswith("force_terminated")
    (whole,) = run_multi_turn(ScriptedLLM(GroundTruthPolicy([long_turn])), [long_turn])
    assert check_trajectory(long_turn, whole) == (True, "ok")


def test_entries_are_asked_together():
    entries = load_multi_turn_category("multi_turn_base", sample_size=12, seed=3)
    batches: list[int] = []
    llm = ScriptedLLM(GroundTruthPolicy(entries))
    ask = llm.chat_batch

    def recording(conversations, **sampling):
        batches.append(len(conversations))
        assert sampling == {"temperature": 0.0, "max_tokens": 64}
        return ask(conversations, **sampling)

    llm.chat_batch = recording
    trajectories = run_multi_turn(llm, entries, temperature=0.0, max_tokens=64)
    assert batches[0] == 12 and sorted(batches, reverse=True) == batches
    assert len(batches) == max(sum(map(len, t)) for t in trajectories) and sum(batches) == len(llm.calls)
    assert all(check_trajectory(e, t)[0] for e, t in zip(entries, trajectories))


def test_a_missing_answer_is_an_error():
    entry = load_multi_turn_category("multi_turn_base", sample_size=None)[0]
    llm = ScriptedLLM(lambda *a: Completion(error="http_500"))
    with pytest.raises(LLMBatchError):
        run_multi_turn(llm, [entry])
    with pytest.raises(ValueError, match="no answer from the policy for multi_turn_base_0"):
        run_multi_turn(llm, [entry], errors="skip")
