"""Dialog generation as flows: each dialog runs its type's script (user, assistant and tool
turns) as a generator over :meth:`LLMClient.run_flows`, so the next turn of a dialog is queued
as soon as its previous one is answered and all dialogs share the batches (the transformers
backend refills freed rows at once; the default backend path answers them in rounds).
Malformed agent output is re-asked by the client up to its ``schema_retries``; a dialog whose
agent still fails is dropped with a counted reason."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from typing import Any, Callable

from toolace_kedro.llm import LLMClient
from toolace_kedro.llm.base import Answers, ChatRequest
from toolace_kedro.pipelines.dialog_generation import agents
from toolace_kedro.pipelines.dialog_generation.consistency import decision_key, vote
from toolace_kedro.pipelines.dialog_generation.sampling import SCRIPTS

logger = logging.getLogger(__name__)


class DialogState:
    def __init__(self, plan: dict[str, Any], adjust: str | None = None) -> None:
        self.plan = plan
        self.adjust = adjust
        self.messages: list[dict[str, Any]] = []
        self.thoughts: list[str] = []
        self.agreement: list[float] = []
        self.dropped: str | None = None
        self.calls_done = 0  # how many call phases have run (dependent dialogs have two)
        self.finished = False
        self.user_values: dict[str, Any] | None = None  # the values the user agent chose to state
        self.counts: Counter = Counter()  # this dialog's share of the stage counts

    def pending_targets(self) -> list[str]:
        targets = self.plan["targets"]
        if self.plan["type"] == "dependent":
            return [targets[min(self.calls_done, len(targets) - 1)]]
        return targets


def run_dialogs(plans: list[dict[str, Any]], llm: LLMClient, params: dict[str, Any],
                adjust: dict[str, str] | None = None, on_done: Callable[[DialogState], None] | None = None,
                ) -> tuple[list[DialogState], Counter]:
    """Generate the dialogs of ``plans``; ``adjust`` maps plan ids to ``harder``/``simpler``.

    Every dialog is a flow (:meth:`LLMClient.run_flows`): its next agent turn is queued the
    moment its previous one is answered, so dialogs of all types and lengths share the batches
    and none waits for another. ``on_done(state)`` is called as each dialog ends (kept or
    dropped), while the others are still generating: the hook for shard checkpoints."""
    states = [DialogState(p, (adjust or {}).get(p["id"])) for p in plans]

    def flow(state: DialogState):
        yield from _dialog_flow(state, params, state.counts)
        if on_done is not None:
            on_done(state)

    llm.run_flows([flow(state) for state in states])
    counts: Counter = Counter()
    for state in states:
        if state.dropped is None and not state.finished:  # the backend gave up mid-dialog
            _drop(state, "incomplete", state.counts)
            if on_done is not None:
                on_done(state)
        counts.update(state.counts)
    return states, counts


def _dialog_flow(state: DialogState, params: dict[str, Any], counts: Counter):
    planned = agents.user_values(state.plan)
    if planned is not None:  # the user agent fixes the values its request will state
        answers = yield [ChatRequest(*planned, {"max_tokens": params["max_tokens"]["user"]})]
        if answers[0] is None:
            reason = answers.failures.get(0, "failed")
            counts[f"failed_samples.{reason}"] += 1
            _drop(state, f"user_agent.{reason}", counts)
            return
        state.user_values = json.loads(answers[0])["values"]
    for phase in SCRIPTS[state.plan["type"]]:
        requests = _requests(state, phase, params)
        answers = yield [ChatRequest(prompt, schema, sampling) for prompt, schema, sampling in requests]
        if phase == "call" and params["self_consistency"].get("adaptive", True):
            extra = _more_samples_needed(answers, params["self_consistency"])
            if extra:
                prompt, schema, sampling = requests[0]
                more = yield [ChatRequest(prompt, schema, {**sampling, "seed": sampling["seed"] + len(requests) + k})
                              for k in range(extra)]
                both = Answers(list(answers) + list(more))  # (failures of both rounds stay counted)
                both.failures = {**answers.failures, **{len(answers) + i: r for i, r in more.failures.items()}}
                answers = both
        for i, reason in answers.failures.items():
            counts[f"failed_samples.{reason}"] += 1
        reason = next(iter(answers.failures.values()), "failed")
        _apply(state, phase, [json.loads(a) if a is not None else None for a in answers], params, counts, reason)
        if state.dropped is not None:
            return
    state.finished = True


def _more_samples_needed(answers: list[str | None], consistency: dict[str, Any]) -> int:
    """Adaptive self-consistency: the first round asks for the fewest samples that could reach
    the threshold; only when they disagree are the remaining samples drawn. The kept/dropped
    decision is the one all ``samples`` would give whenever the first round agrees."""
    total, first = consistency["samples"], len(answers)
    if first >= total:
        return 0
    keys = [decision_key(json.loads(a)) for a in answers if a is not None]
    agree = max(Counter(keys).values()) if keys else 0
    return 0 if agree >= math.ceil(consistency["threshold"] * total) else total - first


def _requests(state: DialogState, phase: str, params: dict[str, Any]) -> list[tuple[list[dict], dict, dict]]:
    """The LLM requests of one dialog's phase: ``(prompt, schema, sampling)`` each."""
    tokens = params["max_tokens"]
    if phase == "user":
        prompt, schema = agents.user_request(state.plan, state.adjust, state.user_values)
        return [(prompt, schema, {"max_tokens": tokens["user"]})]
    if phase == "user_reply":
        prompt, schema = agents.user_reply(state.plan, state.messages)
        return [(prompt, schema, {"max_tokens": tokens["user"]})]
    if phase == "tool":
        by_name = {t["name"]: t for t in state.plan["tools"]}
        earlier = [r for m in state.messages if m["role"] == "tool" for r in m["content"]]
        return [(*agents.tool_result(by_name[c["name"]], c, earlier), {"max_tokens": tokens["tool"]})
                for c in state.messages[-1]["tool_calls"]]
    consistency = params["self_consistency"]
    prompt, schema = agents.assistant_action(state.plan, state.messages, phase, state.pending_targets())
    if phase == "call":  # the decision to vote on: which calls, with which arguments
        first = consistency["samples"]
        if consistency.get("adaptive", True):
            first = min(first, math.ceil(consistency["threshold"] * consistency["samples"]))
        # every sample its own seed (also the ones drawn later by adaptive self-consistency)
        return [(prompt, schema, {"max_tokens": tokens["assistant"], "temperature": consistency["temperature"],
                                  "seed": params["seed"] * 1000 + k}) for k in range(first)]
    # ask/reply/answer: the grammar fixes the kind of action, there is no decision to vote on
    return [(prompt, schema, {"max_tokens": tokens["assistant"], "temperature": 0.0})]


def _drop(state: DialogState, reason: str, counts: Counter) -> None:
    state.dropped = reason
    counts[f"dropped.{reason}"] += 1


def _apply(state: DialogState, phase: str, answers: list, params: dict[str, Any], counts: Counter,
           reason: str = "failed") -> None:
    """Add one phase's outcome to the dialog, or drop the dialog with a counted reason
    (``<agent>.<failure>``, e.g. ``tool_agent.schema_invalid``, or ``inconsistent_actions``)."""
    agent = {"user": "user_agent", "user_reply": "user_agent", "tool": "tool_agent"}.get(phase, "assistant_agent")
    got = [a for a in answers if a is not None]
    if not got or (phase == "tool" and len(got) < len(answers)):
        _drop(state, f"{agent}.{reason}", counts)
        return
    if phase in ("user", "user_reply"):
        state.messages.append({"role": "user", "content": got[0]["reply" if phase == "user_reply" else "request"].strip()})
        return
    if phase == "tool":
        names = [c["name"] for c in state.messages[-1]["tool_calls"]]
        state.messages.append({"role": "tool", "content": [{"name": n, "results": r} for n, r in zip(names, got)]})
        return
    share = 1.0
    action = got[0]
    if phase == "call":
        action, share = vote(got, params["self_consistency"]["threshold"] * len(answers) / len(got))
        if action is None:
            counts["actions_dropped_inconsistent"] += 1
            _drop(state, "inconsistent_actions", counts)
            return
        share = share * len(got) / len(answers)  # agreement among all samples drawn
        counts[f"call_samples_drawn.{len(answers)}"] += 1
    counts["actions_kept"] += 1
    state.agreement.append(share)
    msg: dict[str, Any] = {"role": "assistant", "content": "", "thought": action["thought"].strip()}
    if phase == "call":
        msg["tool_calls"] = [{"name": c["name"], "arguments": c["arguments"]} for c in action["calls"]]
        state.calls_done += 1
    else:
        msg["content"] = action["question" if phase == "ask" else "answer"].strip()
    state.messages.append(msg)
