"""BFCL's multi-turn verdict on a policy's trajectory, reproduced without ``eval``.

A trajectory is what BFCL's runner records for an entry: per turn, the raw text of each step the
policy wrote. Scoring follows bfcl-eval's ``eval_runner`` and ``multi_turn_checker``:

* a trajectory that is not a list fails (``inference_error``); one with another number of turns
  than the ground truth was cut short by the step limit and fails (``force_terminated``);
* each step is decoded (:func:`~.multi_turn_executor.decode_step`); a step that does not decode,
  or decodes to no call, is left out (the policy was talking, not calling);
* turn by turn, the policy's steps run on its own backend instances and the turn's ground-truth
  calls on a second set, both loaded from the entry's ``initial_config`` and kept across turns.
  A turn whose ground truth is empty (the request cannot be served yet, as in ``miss_func`` and
  ``miss_param``) is not checked, but the policy's calls in it still change its state. Every other
  turn must have at least one decoded step (``empty_turn_model_response``), then passes the
  **state check** -- every public attribute of every ground-truth instance equals the policy
  instance's (``instance_state_mismatch``) -- and the **response check** -- each result of the
  turn's ground-truth calls is found, as a multiset and in any order, among the results of all the
  policy's calls so far, earlier turns included (``execution_response_mismatch``).

``tests/pipelines/evaluation/test_multi_turn.py`` compares these verdicts with the official
checker's on the ground truth and on mutated trajectories of every entry of the four categories.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from toolace_kedro.pipelines.evaluation.multi_turn_executor import (
    BackendSession,
    Call,
    StepDecodeError,
    decode_call,
    decode_step,
)

__all__ = ["check_decoded", "check_trajectory", "decode_turns", "ground_truth_calls", "score_multi_turn",
           "score_trajectory"]

logger = logging.getLogger(__name__)
_MISSING = object()


def ground_truth_calls(entry: dict[str, Any]) -> list[list[Call]]:
    """The entry's ground-truth trajectory, one list of decoded calls per turn."""
    try:
        return [[decode_call(source) for source in turn] for turn in entry["ground_truth"]]
    except StepDecodeError as exc:
        raise ValueError(f"BFCL entry {entry.get('id')}: a ground-truth call is not literal: {exc}") from None


def decode_turns(model_turns: Sequence[Sequence[Any]]) -> list[list[list[Call]]]:
    """Each turn's decodable, non-empty steps (as BFCL's runner keeps them for its checker)."""
    decoded = []
    for turn in model_turns:
        steps = []
        for text in turn:
            try:
                calls = decode_step(text)
            except StepDecodeError:
                continue
            if calls:
                steps.append(calls)
        decoded.append(steps)
    return decoded


def _state_difference(model: BackendSession, truth: BackendSession) -> str | None:
    for class_name, expected in truth.instances.items():
        actual = model.instances[class_name]
        for attr, value in vars(expected).items():
            if attr.startswith("_"):
                continue
            if getattr(actual, attr, _MISSING) != value:
                return f"{class_name}.{attr}"
    return None


def _missing_results(model_results: list[str], expected: list[str]) -> list[str]:
    remaining, missing = list(model_results), []
    for item in expected:
        try:
            remaining.remove(item)
        except ValueError:
            missing.append(item)
    return missing


def check_decoded(entry: dict[str, Any], decoded_turns: Sequence[Sequence[Sequence[Call]]]) -> tuple[bool, str]:
    """BFCL's ``multi_turn_checker`` on decoded steps (one list of calls per step, per turn)."""
    truth_turns = ground_truth_calls(entry)
    if len(decoded_turns) != len(truth_turns):
        raise ValueError(f"{len(decoded_turns)} decoded turns for {len(truth_turns)} ground-truth turns")
    truth = BackendSession.for_entry(entry)
    model: BackendSession | None = None
    all_results: list[str] = []
    for index, (expected_calls, steps) in enumerate(zip(truth_turns, decoded_turns)):
        turn_results = []
        for step in steps:
            model = model or BackendSession.for_entry(entry)
            turn_results += model.execute(list(step))
        expected = truth.execute(expected_calls)
        all_results += turn_results
        if not expected_calls:
            continue
        if not steps or (len(steps) == 1 and not steps[0]) or model is None:
            return False, f"empty_turn_model_response: no call in turn {index}"
        where = _state_difference(model, truth)
        if where is not None:
            return False, f"instance_state_mismatch: turn {index}, {where}"
        missing = _missing_results(all_results, expected)
        if missing:
            return False, (f"execution_response_mismatch: turn {index}, {len(missing)} result(s) missing: "
                           f"{missing[0][:80]!r}")
    return True, "ok"


def check_trajectory(entry: dict[str, Any], model_turns: Any) -> tuple[bool, str]:
    """BFCL's verdict on one raw trajectory (per turn, the text of each step) and the reason."""
    if not isinstance(model_turns, list) or not all(isinstance(turn, list) for turn in model_turns):
        return False, "inference_error: the trajectory is not a list of turns"
    expected_turns = len(entry["ground_truth"])
    if len(model_turns) != expected_turns:
        return False, f"force_terminated: {len(model_turns)} turns for {expected_turns}"
    return check_decoded(entry, decode_turns(model_turns))


def score_trajectory(entry: dict[str, Any], model_turns: Any) -> bool:
    """BFCL's verdict on one raw trajectory."""
    return check_trajectory(entry, model_turns)[0]


def score_multi_turn(category: str, entries: Sequence[dict[str, Any]], trajectories: Sequence[Any]) -> dict[str, Any]:
    """Accuracy of one category's trajectories (aligned with ``entries``) and failures by reason kind."""
    if len(entries) != len(trajectories):
        raise ValueError(f"{category}: {len(trajectories)} trajectories for {len(entries)} entries")
    failures: dict[str, int] = {}
    correct = 0
    for entry, trajectory in zip(entries, trajectories):
        ok, reason = check_trajectory(entry, trajectory)
        correct += ok
        if not ok:
            kind = reason.split(":", 1)[0]
            failures[kind] = failures.get(kind, 0) + 1
    logger.info("%s: %d of %d trajectories pass", category, correct, len(entries))
    return {"category": category, "n": len(entries), "correct": correct,
            "accuracy": correct / len(entries) if entries else 0.0, "failures": dict(sorted(failures.items()))}
