"""Trajectories for the multi-turn agreement tests: the ground truth written as a policy writes it,
and seeded mutations of it (a call dropped, a wrong value, an extra call, two calls swapped, ...)."""

from __future__ import annotations

import copy
import inspect
import random
from collections.abc import Callable

from toolace_kedro.pipelines.evaluation.multi_turn import ground_truth_calls
from toolace_kedro.pipelines.evaluation.multi_turn_executor import (
    Call,
    allowed_methods,
    backend_class,
)

Steps = list[list[list[Call]]]  # per turn, per step, the calls


def keyword_turns(entry: dict) -> list[list[Call]]:
    """The ground truth with positional arguments named (a policy is asked for keywords only, and
    BFCL's decoder drops positional arguments)."""
    owner = {}
    for class_name in entry["involved_classes"]:
        owner.update(dict.fromkeys(allowed_methods(class_name), class_name))
    turns = []
    for turn in ground_truth_calls(entry):
        named = []
        for call in turn:
            if call.args:
                method = getattr(backend_class(owner[call.name]), call.name)
                bound = inspect.signature(method).bind(None, *call.args, **call.kwargs)
                kwargs = {k: v for k, v in bound.arguments.items() if k != "self"}
                call = Call(call.name, kwargs)
            named.append(call)
        turns.append(named)
    return turns


def render(steps: Steps) -> list[list[str]]:
    """Raw step texts, ``[f(a=1), g(b='x')]`` per step."""
    return [["[" + ", ".join(c.render() for c in step) + "]" for step in turn] for turn in steps]


def one_step_per_turn(turns: list[list[Call]]) -> Steps:
    return [[list(turn)] if turn else [] for turn in turns]


def split_steps(turns: list[list[Call]], rng: random.Random) -> list[list[str]]:
    """Each call its own step, prose between some steps and at the end of each turn (left out by
    the decoder), an empty turn answered with prose: the ground truth still."""
    out = []
    for turn in turns:
        steps = []
        for call in turn:
            steps.append(f"[{call.render()}]")
            if rng.random() < 0.2:
                steps.append("Let me check that first.")
        steps.append("I have completed the request." if turn else "I cannot do that with these functions.")
        out.append(steps)
    return out


def _wrong(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + "_x" if value else "x"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    if isinstance(value, dict):
        return {**value, "extra_key": "x"}
    return "x"


def _calls(turns):
    return [(t, i) for t, turn in enumerate(turns) for i in range(len(turn))]


def drop_call(turns, rng):
    where = _calls(turns)
    if not where:
        return None
    t, i = rng.choice(where)
    del turns[t][i]
    return turns


def wrong_value(turns, rng):
    where = [(t, i) for t, i in _calls(turns) if turns[t][i].kwargs]
    if not where:
        return None
    t, i = rng.choice(where)
    call = turns[t][i]
    key = rng.choice(sorted(call.kwargs))
    turns[t][i] = Call(call.name, {**call.kwargs, key: _wrong(call.kwargs[key])})
    return turns


def extra_call(turns, rng):
    where = _calls(turns)
    if not where:
        return None
    t, i = rng.choice(where)
    target = rng.randrange(len(turns))
    turns[target].insert(rng.randint(0, len(turns[target])), turns[t][i])
    return turns


def swap_calls(turns, rng):
    where = [(t, i, j) for t, turn in enumerate(turns) for i in range(len(turn)) for j in range(i + 1, len(turn))
             if turn[i].render() != turn[j].render()]
    if not where:
        return None
    t, i, j = rng.choice(where)
    turns[t][i], turns[t][j] = turns[t][j], turns[t][i]
    return turns


def move_to_previous_turn(turns, rng):
    where = [t for t in range(1, len(turns)) if turns[t]]
    if not where:
        return None
    t = rng.choice(where)
    turns[t - 1].append(turns[t].pop(0))
    return turns


def call_in_empty_turn(turns, rng):
    """A call where the ground truth has none (the missing function or parameter's turn)."""
    where = [t for t, turn in enumerate(turns) if not turn and any(turns[t + 1:])]
    if not where:
        return None
    t = rng.choice(where)
    later = next(turn for turn in turns[t + 1:] if turn)
    turns[t].append(rng.choice(later))
    return turns


def positional_argument(turns, rng):
    """One keyword written positionally: BFCL's decoder drops it."""
    where = [(t, i) for t, i in _calls(turns) if turns[t][i].kwargs]
    if not where:
        return None
    t, i = rng.choice(where)
    call = turns[t][i]
    key = next(iter(call.kwargs))
    turns[t][i] = Call(call.name, {k: v for k, v in call.kwargs.items() if k != key}, (call.kwargs[key],))
    return turns


def wrong_name(turns, rng):
    where = _calls(turns)
    if not where:
        return None
    t, i = rng.choice(where)
    call = turns[t][i]
    turns[t][i] = Call(rng.choice([call.name + "_x", "ls", "pwd", "get_user_id", "mean"]), call.kwargs)
    return turns


def repeat_step(turns, rng):
    where = [t for t, turn in enumerate(turns) if turn]
    if not where:
        return None
    t = rng.choice(where)
    turns[t] = turns[t] + turns[t]
    return turns


def empty_turn(turns, rng):
    where = [t for t, turn in enumerate(turns) if turn]
    if not where:
        return None
    turns[rng.choice(where)] = []
    return turns


MUTATIONS: dict[str, Callable] = {
    "drop_call": drop_call, "wrong_value": wrong_value, "extra_call": extra_call, "swap_calls": swap_calls,
    "move_to_previous_turn": move_to_previous_turn, "call_in_empty_turn": call_in_empty_turn,
    "positional_argument": positional_argument, "wrong_name": wrong_name, "repeat_step": repeat_step,
    "empty_turn": empty_turn}


def mutations(entry: dict, rng: random.Random, per_entry: int) -> list[tuple[str, list[list[str]]]]:
    """``per_entry`` mutated raw trajectories (kind, trajectory); the kinds that apply to the entry
    are drawn in turn, the four the issue names first."""
    base = keyword_turns(entry)
    out = []
    kinds = list(MUTATIONS)
    first, rest = kinds[:4], kinds[4:]
    rng.shuffle(first)
    rng.shuffle(rest)
    order = first + rest
    attempts = 0
    while len(out) < per_entry and attempts < 4 * per_entry:
        kind = order[attempts % len(order)]
        attempts += 1
        turns = MUTATIONS[kind](copy.deepcopy(base), rng)
        if turns is not None:
            out.append((kind, render(one_step_per_turn(turns))))
    return out
