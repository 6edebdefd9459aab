"""ToolACE's model layer (Dual-Layer Verification): three LLM "expert" judges, each its own prompt.

* ``hallucination`` -- are the call arguments taken from the user turns, the tool list or earlier
  tool results, or invented? The prompt carries the deterministic evidence of
  :func:`~toolace_kedro.pipelines.verification.evidence.grounding` (which values occur verbatim
  where); the verdict is the model's. Applies to dialogs with calls.
* ``consistency`` -- does the assistant fulfil the user's request and its constraints (the right
  function, the user's values, an answer that uses the results or asks for what is missing)?
  Applies to every dialog.
* ``tool_response`` -- does each simulated result fit its API's declared ``returns`` (with the
  ``jsonschema`` check of :func:`~toolace_kedro.pipelines.verification.evidence.result_fit` as
  evidence) and the call? Applies to dialogs whose called APIs declare ``returns``.

A dialog of several requests (a ``multi_turn`` dialog, ``toolcalls.exchanges``) gets one case per
request and judge; the judge's verdict on the dialog fails when it fails any request.

The prompts are in ``judge_prompts.py`` (compact; ``examples`` adds a pass and a fail worked
example). Every answer is JSON-constrained to ``{"reason": str, "verdict": "pass"|"fail"}`` -- the
reason first, so the model writes its grounds before it decides; the reason is bounded by
``reason_max_chars`` or by ``reason_pattern`` (the CPU default admits words only). Each judge asks ``votes``
times (at ``temperature``; identical requests get distinct seeds from the client); the majority
of the votes that came back decides and a tie fails (use an odd number). A judge none of whose
votes came back after the client's schema re-asks and retries is ``unavailable``: counted as
``judge.<name>.unavailable`` and treated as ``on_unavailable`` (``pass`` by default). Whether a
fail rejects the dialog is the pipeline's ``judges.reject`` (``nodes.split_dialogs``).

All requests of all dialogs go to the client in one ``try_chat_batch`` call, so the transformers
backend decodes them in one continuous batch and the openai backend keeps many in flight.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

from toolace_kedro.llm import LLMClient
from toolace_kedro.pipelines.verification import judge_prompts as prompts
from toolace_kedro.pipelines.verification.config import JudgeParams
from toolace_kedro.pipelines.verification.evidence import grounding, result_fit
from toolace_kedro.toolcalls import exchanges

__all__ = ["JUDGES", "enabled_judges", "judge_dialogs", "judge_requests", "verdict_schema"]

logger = logging.getLogger(__name__)

JUDGES = ("hallucination", "consistency", "tool_response")


def enabled_judges(params: JudgeParams) -> list[str]:
    """The judges of :data:`JUDGES` whose switch in ``params`` is on."""
    return [name for name in JUDGES if getattr(params, name).enabled]


def verdict_schema(reason_max_chars: int, reason_pattern: str | None = None) -> dict[str, Any]:
    """The JSON schema of a verdict: the reason (bounded by ``maxLength``, or by a pattern that
    bounds its own length: xgrammar ignores length bounds beside a pattern) before the decision."""
    reason: dict[str, Any] = ({"type": "string", "pattern": reason_pattern} if reason_pattern else
                              {"type": "string", "minLength": 1, "maxLength": reason_max_chars})
    return {"type": "object", "properties": {"reason": reason, "verdict": {"type": "string", "enum": ["pass", "fail"]}},
            "required": ["reason", "verdict"], "additionalProperties": False}


def judge_requests(sample: dict[str, Any], enabled: list[str], examples: bool = False
                   ) -> tuple[dict[str, list[list[dict]]], dict[str, Any]]:
    """The chat messages of each applicable enabled judge for one (rule-clean) sample -- one
    conversation per request of the dialog the judge applies to -- and the deterministic
    evidence."""
    evidence = {"grounding": grounding(sample), "result_fit": result_fit(sample)}
    cases = {
        "hallucination": lambda span: prompts.hallucination_case(sample, evidence["grounding"], span),
        "consistency": lambda span: prompts.consistency_case(sample, span),
        "tool_response": lambda span: prompts.tool_response_case(sample, evidence["result_fit"], span),
    }
    spans = exchanges(sample["messages"])
    spans = spans if len(spans) > 1 else [None]  # (one request: the whole dialog, as it always was)
    out = {}
    for name in enabled:
        found = [prompts.messages(name, case, examples) for span in spans if (case := cases[name](span)) is not None]
        if found:
            out[name] = found
    return out, evidence


def _decide(votes: list[dict | None]) -> tuple[str, str]:
    """``(verdict, reason)`` from the votes that came back: majority, a tie fails."""
    got = [v for v in votes if v is not None]
    if not got:
        return "unavailable", ""
    fails = [v for v in got if v["verdict"] == "fail"]
    if len(fails) * 2 >= len(got):
        return "fail", fails[0]["reason"]
    return "pass", next(v["reason"] for v in got if v["verdict"] == "pass")


def _decide_requests(cases: list[list[dict | None]]) -> tuple[str, str]:
    """``(verdict, reason)`` over a dialog's requests: a fail on any request fails, else a pass on
    any passes; unavailable when no request got a verdict."""
    decided = [_decide(votes) for votes in cases]
    for wanted in ("fail", "pass"):
        found = [(n, reason) for n, (verdict, reason) in enumerate(decided) if verdict == wanted]
        if found:
            n, reason = found[0]
            return wanted, (f"request {n + 1}: {reason}" if len(cases) > 1 and wanted == "fail" else reason)
    return "unavailable", ""


def _parse(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and value.get("verdict") in ("pass", "fail") and isinstance(value.get("reason"), str):
        return {"verdict": value["verdict"], "reason": value["reason"]}
    return None


def judge_dialogs(samples: list[dict[str, Any]], client: LLMClient,
                  params: JudgeParams | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Judge every sample under ``params`` (the ``judges:`` block); one outcome per sample:
    ``{"judges": {name: {"verdict", "reason", "votes"}}, "evidence": {...}}`` (a judge that does
    not apply is absent)."""
    cfg = JudgeParams.of(params)
    enabled = enabled_judges(cfg)
    votes = cfg.votes
    if votes > 1 and not cfg.temperature:
        logger.warning("judges: %d votes at temperature 0 are %d copies of one greedy answer", votes, votes)
    conversations, owners = [], []
    outcomes = []
    for index, sample in enumerate(samples):
        try:
            requests, evidence = judge_requests(sample, enabled, cfg.examples)
        except Exception as exc:  # only with the rule layer off: a sample the prompts cannot read
            logger.warning("judges: sample %d is unreadable (%s: %s)", index, type(exc).__name__, exc)
            outcomes.append({"judges": {n: {"verdict": "unavailable", "reason": "unreadable sample", "votes": []}
                                        for n in enabled}, "evidence": {}})
            continue
        outcomes.append({"judges": {}, "evidence": evidence})
        for name, cases in requests.items():
            for case, messages in enumerate(cases):
                conversations += [messages] * votes
                owners += [(index, name, case)] * votes
    if not conversations:
        return outcomes
    logger.info("judges: %d requests (%d dialogs, judges %s, %d vote(s) each)", len(conversations), len(samples),
                enabled, votes)
    schema = verdict_schema(cfg.reason_max_chars, cfg.reason_pattern)
    answers, failures = client.try_chat_batch(
        conversations, json_schema=schema, temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    collected: dict[tuple[int, str], dict[int, list]] = {}
    for slot, ((index, name, case), answer) in enumerate(zip(owners, answers)):
        got = _parse(answer) if slot not in failures else None
        collected.setdefault((index, name), {}).setdefault(case, []).append(got)
    for (index, name), cases in collected.items():
        verdict, reason = _decide_requests(list(cases.values()))
        outcomes[index]["judges"][name] = {"verdict": verdict, "reason": reason,
                                           "votes": [v["verdict"] if v else "unavailable"
                                                     for got in cases.values() for v in got]}
    counts = Counter(f"{name}.{j['verdict']}" for o in outcomes for name, j in o["judges"].items())
    logger.info("judge verdicts: %s; failed requests: %s", dict(sorted(counts.items())),
                dict(Counter(failures.values())))
    return outcomes
