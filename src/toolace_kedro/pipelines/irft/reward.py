"""Rewards of iTool's step-level search: how good is a completed answer, given the ground truth.

**Deterministic reward** (``reward: match``, the default), in ``[-1, 1]``. The answer is read with
``parse_calls`` (literal-only) and compared with the ground truth of the sample:

* the ground truth **calls** functions (calls ``G``):

  - the answer is plain text or an empty call list (call / no-call disagreement): ``-1``;
  - the answer tries to call (starts with ``[``/``{`` or reads ``name(``) but does not parse: ``-0.8``;
  - the answer parses to calls ``P``: ``r = -0.6 + 1.6 * s`` with the match score
    ``s = max over one-to-one assignments of Σ q(g, p) / max(|G|, |P|)``, where a pair scores
    ``q = 0`` when the function names differ, else
    ``q = 0.4 + 0.3 * F1(argument names) + 0.3 * (share of g's arguments whose value p matches)``.
    Values are compared as BFCL's checker does: strings lowercased with spaces and ``,./-_*^``
    removed (``'`` read as ``"``), an int equal to a float of the same value, lists item by
    item, dicts key by key. So: right call, right arguments → ``1``; right function, nothing
    else right → ``0.04``; wrong function → ``-0.6``; an extra or a missing call lowers ``s``.

* the ground truth is a **text** answer (no tool fits, or a clarifying question):

  - the answer calls a function: ``-1``;
  - else ``r = F1`` of the word overlap with the ground truth (``0 … 1``): agreeing not to call
    always beats any call, and closer wording scores higher.

**Self-grading** (``reward: self_grade``, iTool's final reward): the policy itself compares the
answer with the ground truth and picks a grade — A (same calls: name, argument count, names and
values), B (only some values differ), C (wrong function or argument names), D (calls when it
should not, does not call when it should, or malformed) — weighted 1, 0.1, −1, −2. The grade is
the likeliest of the four letter tokens after the grading prompt (deterministic).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from typing import Any, Callable

from toolace_kedro.toolcalls import ToolCallParseError, parse_calls

__all__ = ["GRADE_WEIGHTS", "SelfGrader", "match_reward", "normalise_value", "word_overlap_f1", "build_reward", "reward_summary"]

GRADE_WEIGHTS = {"A": 1.0, "B": 0.1, "C": -1.0, "D": -2.0}
_BFCL_STRIP = re.compile(r"[ ,./\-_*^]")
_WORDS = re.compile(r"\w+")
_CALL_ATTEMPT = re.compile(r"^\s*[\[{]|^\s*[A-Za-z_][\w.]*\(")
#: above this many calls a greedy assignment replaces the exhaustive one
_EXHAUSTIVE_CALLS = 6


def normalise_value(value: Any) -> Any:
    """A value in the form BFCL's checker compares: normalised strings, numbers as floats,
    lists and dicts recursively; bools are tagged so that ``True`` does not equal ``1``."""
    if isinstance(value, bool):
        return ("bool", value)
    if value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _BFCL_STRIP.sub("", value).lower().replace("'", '"')
    if isinstance(value, (list, tuple)):
        return [normalise_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): normalise_value(v) for k, v in value.items()}
    return value


def _f1(a: set | Counter, b: set | Counter) -> float:
    if not a and not b:
        return 1.0
    if isinstance(a, Counter):
        common = sum((a & b).values())
        size_a, size_b = sum(a.values()), sum(b.values())
    else:
        common, size_a, size_b = len(a & b), len(a), len(b)
    if not common:
        return 0.0
    precision, recall = common / size_b, common / size_a
    return 2 * precision * recall / (precision + recall)


def word_overlap_f1(reference: str, answer: str) -> float:
    """F1 of the lowercased word multisets of ``answer`` against ``reference``."""
    return _f1(Counter(_WORDS.findall(reference.lower())), Counter(_WORDS.findall(answer.lower())))


def _call_score(truth: dict[str, Any], predicted: dict[str, Any]) -> float:
    if truth["name"] != predicted["name"]:
        return 0.0
    g_args, p_args = truth.get("arguments") or {}, predicted.get("arguments") or {}
    names = _f1(set(g_args), set(p_args))
    if g_args:
        values = sum(k in p_args and normalise_value(p_args[k]) == normalise_value(v)
                     for k, v in g_args.items()) / len(g_args)
    else:
        values = 1.0 if not p_args else 0.0
    return 0.4 + 0.3 * names + 0.3 * values


def _match_score(truth: list[dict], predicted: list[dict]) -> float:
    """Best one-to-one assignment of predicted to true calls (order-free), per BFCL's parallel
    matching; normalised by the larger count so extra and missing calls both cost."""
    scores = [[_call_score(g, p) for p in predicted] for g in truth]
    small, large = (truth, predicted) if len(truth) <= len(predicted) else (predicted, truth)
    transpose = small is predicted
    if len(large) <= _EXHAUSTIVE_CALLS:
        best = 0.0
        for perm in itertools.permutations(range(len(large)), len(small)):
            total = sum(scores[j][i] if transpose else scores[i][j] for i, j in enumerate(perm))
            best = max(best, total)
    else:  # greedy: best pair first
        pairs = sorted(((scores[i][j], i, j) for i in range(len(truth)) for j in range(len(predicted))),
                       reverse=True)
        used_g, used_p, best = set(), set(), 0.0
        for s, i, j in pairs:
            if i not in used_g and j not in used_p:
                used_g.add(i), used_p.add(j)
                best += s
    return best / max(len(truth), len(predicted))


def match_reward(answer: str, truth_calls: list[dict] | None, truth_text: str) -> float:
    """The deterministic reward of ``answer`` (see the module docstring), in ``[-1, 1]``."""
    try:
        predicted = parse_calls(answer)
        parsed = True
    except ToolCallParseError:
        predicted, parsed = [], False
    if truth_calls:
        if predicted:
            return -0.6 + 1.6 * _match_score(truth_calls, predicted)
        if not parsed and _CALL_ATTEMPT.match(answer):
            return -0.8
        return -1.0
    if predicted:
        return -1.0
    return word_overlap_f1(truth_text, answer)


_GRADE_PROMPT = (
    "Grade an assistant's answer against the reference answer.\n"
    "Reference: {reference}\nAnswer: {answer}\n"
    "Reply with one letter. A: the same function calls (name, number of arguments, argument names and "
    "values), or for a text reply the same meaning. B: the same functions and argument names, but some "
    "values differ. C: a wrong function or wrong argument names. D: it calls a function when it should "
    "not, does not call when it should, or is malformed."
)


class SelfGrader:
    """iTool's final reward: the policy grades the answer itself (A/B/C/D → 1, 0.1, −1, −2)."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.letter_ids = [tokenizer.encode(letter, add_special_tokens=False)[0] for letter in GRADE_WEIGHTS]

    def __call__(self, answer: str, reference: str) -> float:
        import torch

        messages = [{"role": "user", "content": _GRADE_PROMPT.format(reference=reference, answer=answer)}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)["input_ids"]
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids], device=self.model.device), logits_to_keep=1).logits
        letter = list(GRADE_WEIGHTS)[int(logits[0, -1, self.letter_ids].argmax())]
        return GRADE_WEIGHTS[letter]


def build_reward(kind: str, target: dict[str, Any], model: Any = None, tokenizer: Any = None
                 ) -> Callable[[str], float]:
    """``answer -> reward`` for one mined sample (``target``: ``answer``, ``calls``)."""
    if kind == "match":
        return lambda answer: match_reward(answer, target.get("calls"), target["answer"])
    if kind == "self_grade":
        grader = SelfGrader(model, tokenizer)
        return lambda answer: grader(answer, target["answer"])
    raise ValueError(f"irft.search.reward must be 'match' or 'self_grade', got {kind!r}")


def reward_summary(values: list[float]) -> dict[str, float]:
    """Count, mean, min, max and standard deviation of rewards (NaN-free)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"count": 0}
    mean = sum(finite) / len(finite)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))
    return {"count": len(finite), "mean": round(mean, 4), "min": round(min(finite), 4),
            "max": round(max(finite), 4), "std": round(std, 4)}
