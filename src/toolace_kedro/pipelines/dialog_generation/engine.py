"""Dialog generation as flows: each dialog runs its type's script (user, assistant and tool
turns) as a generator over :meth:`LLMClient.run_flows`, so the next turn of a dialog is queued
as soon as its previous one is answered and all dialogs share the batches (the transformers
backend refills freed rows at once; the default backend path answers them in rounds).
Malformed agent output is re-asked by the client up to its ``schema_retries``; a dialog whose
agent still fails is dropped with a counted reason. With a :class:`ComplexityLoop` each dialog is
scored as it ends and, when out of bounds, regenerated within the same flow.

A ``multi_turn`` dialog's script goes on after its first answer with each planned follow-up
(``follow_up.py``): the user's follow-up request, then call, tool and answer phases as for a
single-call dialog whose plan is the follow-up's. A follow-up that fails (its agents, its
self-consistency or plan agreement, no value to take from the dialog) is removed and ends the
dialog after the requests before it; with fewer than ``multi_turn.min_follow_ups`` answered
follow-ups the dialog is dropped."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any, Callable

from pydantic import ValidationError

from toolace_kedro.llm import WAIT, LLMClient
from toolace_kedro.llm.base import Answers, ChatRequest
from toolace_kedro.pipelines.dialog_generation import agents, follow_up
from toolace_kedro.pipelines.dialog_generation.complexity import ComplexityLoop, direction
from toolace_kedro.pipelines.dialog_generation.config import DialogGenerationParams, SelfConsistencyParams
from toolace_kedro.pipelines.dialog_generation.consistency import decision_key, plan_agreement, vote
from toolace_kedro.pipelines.dialog_generation.sampling import script
from toolace_kedro.toolcalls import DialogSample

logger = logging.getLogger(__name__)


class DialogState:
    def __init__(self, plan: dict[str, Any], adjust: str | None = None) -> None:
        self.plan = plan
        self.adjust = adjust
        self.messages: list[dict[str, Any]] = []
        self.agreement: list[float] = []
        self.dropped: str | None = None
        self.calls_done = 0  # how many call phases have run (dependent dialogs have two)
        self.finished = False
        self.user_values: dict[str, Any] | None = None  # the values the user agent chose to state
        self.counts: Counter = Counter()  # this dialog's share of the stage counts
        self.complexity: float | None = None
        self.complexity_before: float | None = None  # the score of the dialog a regeneration replaced
        self.exchange_calls = 0  # call phases of the current request (the opening one or a follow-up)
        self.follow_up: dict[str, Any] | None = None  # the follow-up under way: its plan view, values, undo marks
        self.follow_ups: list[dict[str, Any]] = []  # the answered follow-ups (meta.follow_ups)
        self.follow_up_failed: str | None = None  # why a follow-up failed (the dialog ended before it)

    @property
    def active(self) -> dict[str, Any]:
        """The plan of the current request: the dialog's, or the follow-up's under way."""
        return self.follow_up["view"] if self.follow_up else self.plan

    @property
    def values(self) -> Any:
        """The values the user states in the current request."""
        return self.follow_up["values"] if self.follow_up else self.user_values

    def adopt(self, retry: "DialogState", score: float) -> None:
        """Take the turns of ``retry`` (a regeneration of this plan) and its complexity score."""
        self.complexity_before = self.complexity_before if self.complexity_before is not None else self.complexity
        self.adjust, self.complexity = retry.adjust, score
        self.messages, self.agreement = retry.messages, retry.agreement
        self.user_values, self.calls_done = retry.user_values, retry.calls_done
        self.follow_ups = retry.follow_ups

    def pending_targets(self) -> list[str]:
        targets = self.active["targets"]
        if self.active["type"] == "dependent":
            return [targets[min(self.exchange_calls, len(targets) - 1)]]
        return targets


def to_sample(state: DialogState, generator: str) -> dict[str, Any] | str:
    """Canonical sample dict of a finished dialog, or the reason it breaks the contract."""
    plan = state.plan
    meta = {"generator": generator, "n_candidate_apis": len(plan["tools"]), "targets": plan["targets"],
            "self_consistency": round(min(state.agreement), 3) if state.agreement else None,
            "user_values": state.user_values}
    if plan.get("topic"):
        meta["topic"] = plan["topic"]["name"]  # a non-tool dialog's request is for this API, not shown
    if plan.get("twin_of"):
        meta["twin_of"] = plan["twin_of"]  # the dialog whose request this one declines under other tools
    if plan["type"] == "multi_turn":
        meta["follow_ups"] = state.follow_ups  # each: its user turn, target, the argument taken and from where
    if state.complexity is not None:
        meta["complexity"] = round(state.complexity, 4)
    if state.complexity_before is not None:
        meta.update(complexity_adjusted=state.adjust, complexity_before=round(state.complexity_before, 4))
    raw = {"id": plan["id"], "type": plan["type"], "tools": plan["tools"], "messages": state.messages, "meta": meta}
    try:
        return DialogSample.model_validate(raw).to_dict()
    except ValidationError as exc:
        return f"contract: {exc.errors()[0]['msg'][:120]}"


def run_dialogs(plans: list[dict[str, Any]], llm: LLMClient, params: DialogGenerationParams | Mapping[str, Any],
                on_done: Callable[[DialogState], None] | None = None, complexity: ComplexityLoop | None = None,
                generator: str = "") -> tuple[list[DialogState], Counter]:
    """Generate the dialogs of ``plans``.

    Every dialog is a flow (:meth:`LLMClient.run_flows`): its next agent turn is queued the
    moment its previous one is answered, so dialogs of all types and lengths share the batches
    and none waits for another. With ``complexity``, a dialog that ends is scored and, out of
    bounds, regenerated in the same flow (``generator`` names the model in the scored sample's
    meta). ``on_done(state)`` is called as each dialog is complete (kept or dropped), while the
    others are still generating: the hook for shard checkpoints."""
    cfg = DialogGenerationParams.of(params)
    states = [DialogState(p) for p in plans]

    def flow(state: DialogState):
        yield from _dialog_flow(state, cfg, state.counts)
        if complexity is not None and state.finished:
            yield from _complexity_flow(state, cfg, complexity, generator)
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


def _dialog_flow(state: DialogState, cfg: DialogGenerationParams, counts: Counter):
    if "values" in state.plan:  # value_source: sampler -- the plan fixed the values to state
        state.user_values = state.plan["values"]
    planned = agents.user_values(state.plan)
    if planned is not None:  # the user agent fixes the values its request will state
        chosen = yield from follow_up.ask_values(planned, cfg, state, counts, _drop)
        if chosen is None:
            return
        state.user_values = chosen
    consistency = cfg.self_consistency
    for phase in script(state.plan):
        if phase == "user" and state.plan.get("request"):  # a twin: the request is its source dialog's
            state.messages.append({"role": "user", "content": state.plan["request"]})
            continue
        if phase == "follow_up":
            yield from follow_up.open_follow_up(state, cfg, counts, _drop)
        else:
            requests = _requests(state, phase, cfg)
            answers = yield from _sample(requests, phase, consistency)
            retries = consistency.retries if phase == "call" else 0
            for attempt in range(1, retries + 1):
                if _agreed(answers, consistency.threshold, state, cfg):
                    break
                # the samples disagree (or miss the stated values): a fresh set (new seeds) before the dialog is dropped
                counts["actions_resampled_inconsistent"] += 1
                _count_failures(answers, counts)
                shift = attempt * consistency.samples
                answers = yield from _sample([(prompt, schema, {**sampling, "seed": sampling["seed"] + shift})
                                              for prompt, schema, sampling in requests], phase, consistency)
            _count_failures(answers, counts)
            reason = next(iter(answers.failures.values()), "failed")
            _apply(state, phase, [json.loads(a) if a is not None else None for a in answers], cfg, counts, reason)
        if state.dropped is not None:
            return
        if state.follow_up_failed is not None:
            break
        if phase == "answer" and state.follow_up is not None:  # the follow-up is answered
            state.follow_ups.append(state.follow_up["meta"])
            state.follow_up = None
            counts["follow_ups_answered"] += 1
    if state.follow_up is not None:  # it failed: the dialog ends with the requests before it
        del state.messages[state.follow_up["messages"]:]
        del state.agreement[state.follow_up["agreement"]:]
        state.calls_done, state.follow_up = state.follow_up["calls_done"], None
    if state.plan["type"] == "multi_turn" and len(state.follow_ups) < cfg.multi_turn.min_follow_ups:
        _drop(state, f"follow_up.{state.follow_up_failed or 'none'}", counts)
        return
    state.finished = True


def _complexity_flow(state: DialogState, cfg: DialogGenerationParams, loop: ComplexityLoop, generator: str):
    """Score the finished dialog; while the bounds are unknown (the prior set is still filling)
    wait for other dialogs; out of bounds, regenerate it -- harder or simpler -- up to
    ``max_rounds`` times. A regeneration that fails keeps the original (counted)."""
    sample = to_sample(state, generator)
    if isinstance(sample, str):  # breaks the contract: dropped when its shard is recorded
        return
    state.complexity, final = yield from _score(loop, sample, first_pass=True)
    while (limits := loop.bounds(final)) is None:  # (woken idle: no other dialog can add to the prior)
        final = (yield WAIT).idle
    tried: set[str] = set()
    for _ in range(loop.max_rounds):
        adjust = direction(state.complexity, *limits)
        if adjust is None or adjust in tried:  # (the same prompts and seeds would give the same dialog)
            return
        tried.add(adjust)
        retry = DialogState(state.plan, adjust)
        yield from _dialog_flow(retry, cfg, retry.counts)
        state.counts.update({f"complexity_round.{k}": v for k, v in retry.counts.items()})
        redone = to_sample(retry, generator) if retry.finished else retry.dropped or "incomplete"
        if isinstance(redone, str):
            state.counts["complexity.kept_original_after_failed_retry"] += 1
            return
        state.adopt(retry, (yield from _score(loop, redone, first_pass=False))[0])
        state.counts["complexity.complicated" if adjust == "harder" else "complexity.simplified"] += 1


def _score(loop: ComplexityLoop, sample: dict[str, Any], first_pass: bool):
    """``(score, idle)``: the sample's complexity, waiting (other flows go on) until its scoring
    batch is full; ``idle`` when it was scored because nothing else was left to wait for."""
    ticket, flush = loop.submit(sample, first_pass), False
    while (score := loop.scored(ticket, flush)) is None:
        flush = (yield WAIT).idle
    return score, flush


def _sample(requests: list[tuple[list[dict], dict, dict]], phase: str, consistency: SelfConsistencyParams):
    """The answers to one phase's requests; for a call with adaptive self-consistency, the rest of
    the samples are drawn when the first ones disagree."""
    answers = yield [ChatRequest(prompt, schema, sampling) for prompt, schema, sampling in requests]
    if phase == "call" and consistency.adaptive:
        extra = _more_samples_needed(answers, consistency)
        if extra:
            prompt, schema, sampling = requests[0]
            more = yield [ChatRequest(prompt, schema, {**sampling, "seed": sampling["seed"] + len(requests) + k})
                          for k in range(extra)]
            both = Answers(list(answers) + list(more))  # (failures of both rounds stay counted)
            both.failures = {**answers.failures, **{len(answers) + i: r for i, r in more.failures.items()}}
            answers = both
    return answers


def _count_failures(answers: Answers, counts: Counter) -> None:
    for reason in answers.failures.values():
        counts[f"failed_samples.{reason}"] += 1


def _call_vote(got: list[dict[str, Any]], drawn: int, threshold: float) -> tuple[dict[str, Any] | None, float]:
    """The vote over the ``got`` valid samples of ``drawn``: the threshold counts every sample
    drawn, so a failed sample is a vote against."""
    return vote(got, threshold * drawn / len(got))


def _plan_agrees(state: DialogState, cfg: DialogGenerationParams, calls: list[dict[str, Any]]) -> bool:
    """Plan agreement of a call action: with ``plan_agreement``, the calls carry the values the
    user stated in the current request (and a follow-up's, the value taken from the dialog); with
    it off, a follow-up's calls still carry the taken value (``multi_turn.check_history``)."""
    if cfg.plan_agreement:
        return plan_agreement(state.active, state.values, calls, state.exchange_calls)
    if state.follow_up is not None and cfg.multi_turn.check_history:
        return plan_agreement(state.active, None, calls, state.exchange_calls)
    return True


def _agreed(answers: Answers, threshold: float, state: DialogState, cfg: DialogGenerationParams) -> bool:
    """Whether the call samples reach the vote's threshold (as :func:`_apply` decides it) and
    the winning calls agree with the plan (:func:`_plan_agrees`)."""
    got = [json.loads(a) for a in answers if a is not None]
    action = _call_vote(got, len(answers), threshold)[0] if got else None
    if action is None:
        return False
    return _plan_agrees(state, cfg, action["calls"])


def _more_samples_needed(answers: list[str | None], consistency: SelfConsistencyParams) -> int:
    """Adaptive self-consistency: the first round asks for the fewest samples that could reach
    the threshold; only when they disagree are the remaining samples drawn. The kept/dropped
    decision is the one all ``samples`` would give whenever the first round agrees."""
    total, first = consistency.samples, len(answers)
    if first >= total:
        return 0
    keys = [decision_key(json.loads(a)) for a in answers if a is not None]
    agree = max(Counter(keys).values()) if keys else 0
    return 0 if agree >= math.ceil(consistency.threshold * total) else total - first


def _requests(state: DialogState, phase: str, cfg: DialogGenerationParams) -> list[tuple[list[dict], dict, dict]]:
    """The LLM requests of one dialog's phase: ``(prompt, schema, sampling)`` each."""
    tokens = cfg.max_tokens
    user = cfg.user_sampling()
    if phase == "user":
        prompt, schema = agents.user_request(state.plan, state.adjust, state.user_values, cfg.request_topic)
        return [(prompt, schema, user)]
    if phase == "user_reply":
        prompt, schema = agents.user_reply(state.plan, state.messages)
        return [(prompt, schema, user)]
    if phase == "tool":
        by_name = {t["name"]: t for t in state.plan["tools"]}
        earlier = [r for m in state.messages if m["role"] == "tool" for r in m["content"]]
        return [(*agents.tool_result(by_name[c["name"]], c, earlier), {"max_tokens": tokens.tool})
                for c in state.messages[-1]["tool_calls"]]
    consistency = cfg.self_consistency
    grounded = cfg.call_values == "stated" and state.exchange_calls == 0
    prompt, schema = agents.assistant_action(state.active, state.messages, phase, state.pending_targets(),
                                             state.values, grounded, cfg.distinct_values)
    if phase == "call":  # the decision to vote on: which calls, with which arguments
        first = consistency.samples
        if consistency.adaptive:
            first = min(first, math.ceil(consistency.threshold * consistency.samples))
        # every sample its own seed (also the ones drawn later by adaptive self-consistency)
        return [(prompt, schema, {"max_tokens": tokens.assistant, "temperature": consistency.temperature,
                                  "seed": cfg.seed * 1000 + k}) for k in range(first)]
    # ask/reply/answer: the grammar fixes the kind of action, there is no decision to vote on
    return [(prompt, schema, {"max_tokens": tokens.assistant, "temperature": 0.0})]


def _drop(state: DialogState, reason: str, counts: Counter) -> None:
    if state.follow_up is not None:  # a failed follow-up ends the dialog after the requests before it
        state.follow_up_failed = reason
        counts[f"follow_ups_dropped.{reason}"] += 1
        return
    state.dropped = reason
    counts[f"dropped.{reason}"] += 1


def _apply(state: DialogState, phase: str, answers: list, cfg: DialogGenerationParams, counts: Counter,
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
        action, share = _call_vote(got, len(answers), cfg.self_consistency.threshold)
        if action is None:  # (after ``self_consistency.retries`` fresh sets of samples, see _dialog_flow)
            counts["actions_dropped_inconsistent"] += 1
            _drop(state, "inconsistent_actions", counts)
            return
        share = share * len(got) / len(answers)  # agreement among all samples drawn
        counts[f"call_samples_drawn.{len(answers)}"] += 1
        if not _plan_agrees(state, cfg, action["calls"]):
            _drop(state, "plan_disagreement", counts)
            return
    counts["actions_kept"] += 1
    state.agreement.append(share)
    msg: dict[str, Any] = {"role": "assistant", "content": "", "thought": action["thought"].strip()}
    if phase == "call":
        msg["tool_calls"] = [{"name": c["name"], "arguments": c["arguments"]} for c in action["calls"]]
        state.calls_done += 1
        state.exchange_calls += 1
    else:
        msg["content"] = action["question" if phase == "ask" else "answer"].strip()
    state.messages.append(msg)
