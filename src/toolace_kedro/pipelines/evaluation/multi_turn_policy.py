"""A policy working through BFCL's multi-turn entries on the simulated backends, as BFCL's
prompt-mode runner (``BaseHandler.inference_multi_turn_prompting`` with the open-model handler's
message handling) drives a model:

* the entry's backends are loaded from its ``initial_config`` (:class:`~.multi_turn_executor.BackendSession`);
* turn 0 starts with BFCL's prompt-mode system prompt listing the functions of the involved
  classes (``toolcalls.bfcl_prompt.bfcl_messages``: BFCL's templates, its Python hint on each
  description) followed by the turn's user message; each later turn appends its user message. A
  ``miss_func`` turn whose functions were held back has no user message: BFCL sends its
  "additional functions" message instead (the held-back documents, then "I have updated some more
  functions you can choose from. What about now?", read from the wheel);
* each step the policy answers; its text is appended as an assistant message and decoded
  (:func:`~.multi_turn_executor.decode_step`). A step that does not decode, or decodes to no call,
  ends the turn. Otherwise the calls run and each result is appended as a ``tool`` message named
  by the call (BFCL's decoded call string), and the policy is asked again;
* after more than ``max_steps`` executed steps in one turn (BFCL's ``MAXIMUM_STEP_LIMIT`` by
  default) the entry is force-quit: its later turns are never asked, and the scorer fails it as
  BFCL does (``force_terminated``).

Every entry under way is asked its next step in the same ``chat_batch`` call, so a batched
backend answers all entries' steps together. The result per entry is BFCL's ``result`` field: per
turn, the raw text of each step -- the input of :func:`~.multi_turn.score_multi_turn`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from toolace_kedro.pipelines.evaluation.multi_turn_executor import BackendSession
from toolace_kedro.toolcalls.bfcl_prompt import bfcl_messages, prompt_constant

__all__ = ["additional_functions_message", "run_multi_turn"]

logger = logging.getLogger(__name__)


def additional_functions_message(functions: list[dict[str, Any]]) -> dict[str, str]:
    """The user message BFCL sends when held-back functions become available (prompt mode)."""
    template = prompt_constant("DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING")
    return {"role": "user", "content": template.format(functions=functions)}


@dataclass
class _Conversation:
    entry: dict[str, Any]
    session: BackendSession
    messages: list[dict[str, Any]] = field(default_factory=list)
    trajectory: list[list[str]] = field(default_factory=list)
    turn: int = -1
    steps: int = 0
    done: bool = False
    force_quit: bool = False


def _turn_messages(entry: dict[str, Any], turn: int) -> list[dict[str, Any]]:
    missed = (entry.get("missed_function") or {}).get(str(turn))
    if missed:
        if entry["question"][turn]:
            raise ValueError(f"BFCL entry {entry['id']}: turn {turn} holds back functions but has a user message")
        return [additional_functions_message(missed)]
    return [dict(m) for m in entry["question"][turn]]


def _next_turn(conv: _Conversation, prompt_format: str | None) -> None:
    conv.turn += 1
    conv.steps = 0
    if conv.turn >= len(conv.entry["question"]):
        conv.done = True
        return
    messages = _turn_messages(conv.entry, conv.turn)
    if conv.turn == 0:
        messages = bfcl_messages(messages, conv.entry["function"], prompt_format)
    conv.messages.extend(messages)
    conv.trajectory.append([])


def _take_answer(conv: _Conversation, answer: str, max_steps: int, prompt_format: str | None) -> None:
    conv.trajectory[-1].append(answer)
    conv.messages.append({"role": "assistant", "content": answer})
    outcome = conv.session.step(answer)
    if not outcome.calls:  # prose, an undecodable step or no call: the turn is over
        _next_turn(conv, prompt_format)
        return
    for call, result in zip(outcome.calls, outcome.results):
        conv.messages.append({"role": "tool", "name": call.render(), "content": result})
    conv.steps += 1
    if conv.steps > max_steps:
        logger.info("%s: force-quit after %d steps in turn %d", conv.entry["id"], max_steps, conv.turn)
        conv.done = conv.force_quit = True


def run_multi_turn(llm: Any, entries: Sequence[dict[str, Any]], *, max_steps: int | None = None,
                   prompt_format: str | None = None, **sampling: Any) -> list[list[list[str]]]:
    """Each entry's trajectory (per turn, the raw text of each step), the policy ``llm`` (any client
    with ``chat_batch(conversations, **sampling) -> list[str]``) asked turn by turn, step by step,
    all entries' next steps in one batch. ``max_steps``: executed steps per turn before the entry
    is force-quit (default: BFCL's limit); ``prompt_format``: BFCL's prompt format string."""
    limit = int(prompt_constant("MAXIMUM_STEP_LIMIT")) if max_steps is None else int(max_steps)
    if limit < 1:
        raise ValueError(f"max_steps must be at least 1, got {limit}")
    conversations = []
    for entry in entries:
        conv = _Conversation(entry, BackendSession.for_entry(entry))
        _next_turn(conv, prompt_format)
        conversations.append(conv)
    rounds = 0
    while active := [c for c in conversations if not c.done]:
        rounds += 1
        answers = llm.chat_batch([[dict(m) for m in c.messages] for c in active], **sampling)
        if len(answers) != len(active):
            raise ValueError(f"the policy gave {len(answers)} answers for {len(active)} conversations")
        for conv, answer in zip(active, answers):
            if answer is None:  # a missing answer is never scored as a wrong one
                raise ValueError(f"no answer from the policy for {conv.entry['id']} (turn {conv.turn})")
            _take_answer(conv, answer, limit, prompt_format)
    forced = sum(c.force_quit for c in conversations)
    logger.info("multi-turn: %d entries in %d rounds of steps, %d force-quit", len(conversations), rounds, forced)
    return [c.trajectory for c in conversations]
