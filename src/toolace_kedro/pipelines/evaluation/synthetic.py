"""Metrics on the held-out synthetic test set: the first assistant action of each canonical dialog.

The policy sees a dialog up to its first assistant turn (:func:`first_action_prompt`) and writes
that turn; the prediction is its raw text. The text is decoded with the project's literal-only
``parse_calls`` (the call form ``[f(a=1)]`` or JSON calls, code fences allowed); text that does not
decode, or decodes to ``[]``, is "no call".

Per dialog type and overall (``score_synthetic``):

* ``exact_call_accuracy`` -- dialogs whose reference action is a call: the predicted calls equal the
  reference calls as a multiset (order-free) of names with normalised arguments;
* ``name_accuracy`` -- same dialogs: the multiset of called function names is right;
* ``argument_precision`` / ``argument_recall`` / ``argument_f1`` -- micro-averaged over the same dialogs,
  on ``(function name, argument name, normalised value)`` triples (multiset intersection);
* ``no_call_accuracy`` -- dialogs whose reference action is text (a ``non_tool`` answer, a
  ``clarify`` question): the prediction does not decode to a call;
* ``action_accuracy`` -- all dialogs: an exact call match or a correct abstention;
* ``undecodable_rate`` -- call dialogs whose prediction decodes to no call.

Values are normalised as BFCL's checker compares them: strings lowercased without spaces and
``,./-_*^`` (``'`` read as ``"``), ints equal to floats, tuples as lists. A metric without any dialog to
average over is ``None``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from toolace_kedro.pipelines.evaluation.bfcl import normalise_string
from toolace_kedro.toolcalls import ToolCallParseError, parse_calls, training_messages

logger = logging.getLogger(__name__)

__all__ = ["action_verdict", "first_action", "first_action_prompt", "normalise_value", "predicted_calls",
           "score_synthetic"]


def normalise_value(value: Any) -> Any:
    """A JSON-comparable form of an argument value (BFCL's string normalisation, 1 == 1.0)."""
    if isinstance(value, str):
        return normalise_string(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [normalise_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalise_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    return repr(value)


def _key(value: Any) -> str:
    return json.dumps(normalise_value(value), sort_keys=True, ensure_ascii=False)


def first_action(dialog: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]] | None]:
    """Index of the first assistant message and its calls (None when it answers or asks in text)."""
    for index, message in enumerate(dialog.get("messages") or []):
        if message.get("role") == "assistant":
            return index, (list(message["tool_calls"]) if message.get("tool_calls") else None)
    raise ValueError(f"dialog {dialog.get('id', '?')!r} has no assistant message")


def first_action_prompt(dialog: Mapping[str, Any], call_format: str = "python") -> list[dict[str, str]]:
    """The chat messages the policy sees: system prompt with the tools, turns before the first action."""
    index, _ = first_action(dialog)
    return training_messages(dict(dialog), call_format)[: index + 1]  # +1: the system prompt


def predicted_calls(text: str | None) -> list[dict[str, Any]]:
    """Calls decoded from a raw prediction; ``[]`` for text, ``[]``, or anything that does not decode."""
    if not text:
        return []
    try:
        return parse_calls(text)
    except ToolCallParseError:
        return []


def _call_key(call: Mapping[str, Any]) -> str:
    return json.dumps([call["name"], {k: normalise_value(v) for k, v in (call.get("arguments") or {}).items()}],
                      sort_keys=True, ensure_ascii=False)


def action_verdict(reference: list[dict[str, Any]] | None, predicted: list[dict[str, Any]]) -> tuple[str, bool]:
    """``("call", exact match)`` for a call reference, ``("no_call", abstained)`` for a text one:
    the per-dialog verdict behind ``exact_call_accuracy`` and ``no_call_accuracy``."""
    if reference is None:
        return "no_call", not predicted
    return "call", Counter(map(_call_key, reference)) == Counter(map(_call_key, predicted))


def _triples(calls: list[dict[str, Any]]) -> Counter:
    return Counter((c["name"], arg, _key(v)) for c in calls for arg, v in (c.get("arguments") or {}).items())


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


class _Tally:
    def __init__(self) -> None:
        self.counts: Counter = Counter()

    def add(self, reference: list[dict] | None, predicted: list[dict]) -> None:
        c = self.counts
        c["dialogs"] += 1
        if reference is None:
            c["no_call_dialogs"] += 1
            c["abstained"] += not predicted
            c["action_correct"] += not predicted
            return
        c["call_dialogs"] += 1
        exact = action_verdict(reference, predicted)[1]
        c["exact"] += exact
        c["action_correct"] += exact
        c["names"] += Counter(x["name"] for x in reference) == Counter(x["name"] for x in predicted)
        c["undecodable"] += not predicted
        ref, pred = _triples(reference), _triples(predicted)
        c["tp"] += sum((ref & pred).values())
        c["ref_triples"] += sum(ref.values())
        c["pred_triples"] += sum(pred.values())

    def metrics(self) -> dict[str, Any]:
        c = self.counts
        precision, recall = _ratio(c["tp"], c["pred_triples"]), _ratio(c["tp"], c["ref_triples"])
        f1 = (2 * precision * recall / (precision + recall) if precision and recall else
              (0.0 if precision is not None or recall is not None else None))
        return {
            "dialogs": c["dialogs"], "call_dialogs": c["call_dialogs"], "no_call_dialogs": c["no_call_dialogs"],
            "exact_call_accuracy": _ratio(c["exact"], c["call_dialogs"]),
            "name_accuracy": _ratio(c["names"], c["call_dialogs"]),
            "argument_precision": precision, "argument_recall": recall, "argument_f1": f1,
            "no_call_accuracy": _ratio(c["abstained"], c["no_call_dialogs"]),
            "action_accuracy": _ratio(c["action_correct"], c["dialogs"]),
            "undecodable_rate": _ratio(c["undecodable"], c["call_dialogs"]),
        }


def score_synthetic(references: Sequence[Mapping[str, Any]],
                    predictions: Sequence[str | None] | Mapping[str, str | None]) -> dict[str, Any]:
    """Metrics overall and per dialog type; ``predictions`` aligned with ``references`` or keyed by id."""
    if isinstance(predictions, Mapping):
        missing = [d.get("id") for d in references if d.get("id") not in predictions]
        if missing:
            raise ValueError(f"no prediction for {len(missing)} dialog(s), e.g. {missing[:3]}")
        outputs = [predictions[d["id"]] for d in references]
    else:
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} reference dialogs")
        outputs = list(predictions)
    overall, by_type = _Tally(), {}
    for dialog, output in zip(references, outputs):
        _, reference = first_action(dialog)
        predicted = predicted_calls(output)
        overall.add(reference, predicted)
        by_type.setdefault(dialog.get("type", "unknown"), _Tally()).add(reference, predicted)
    result = {"overall": overall.metrics(), "by_type": {t: tally.metrics() for t, tally in sorted(by_type.items())}}
    logger.info("synthetic test set: %d dialogs, exact-call accuracy %s, no-call accuracy %s",
                overall.counts["dialogs"], result["overall"]["exact_call_accuracy"], result["overall"]["no_call_accuracy"])
    return result
