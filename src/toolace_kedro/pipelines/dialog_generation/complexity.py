"""ToolACE's complexity evaluator: H(x, y) = mean token NLL of the assistant turns under the
model to be trained (teacher-forced). Dialogs below the lower bound are too easy and are
regenerated with a user told to need more and to word the request further from the API
description; above the upper bound they are simplified. Bounds come from params, or from
quantiles of the scores of the first ``prior_size`` dialogs to finish (the "small prior set").

Each dialog is scored the moment it ends and its regeneration, if any, joins the same running
batch as the dialogs still being generated (:class:`ComplexityLoop`, driven by the dialog
flows in ``engine.py``): no separate, under-filled round after the first one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable

from toolace_kedro.models import load_policy
from toolace_kedro.models.scoring import assistant_nll
from toolace_kedro.pipelines.dialog_generation.config import ComplexityParams
from toolace_kedro.toolcalls import training_messages


class ComplexityEvaluator:
    """Scores samples with the policy model. ``dtype: auto`` scores in bfloat16 on a CPU with
    native bf16 (a teacher-forced pass is prompt processing, much faster there than in float32;
    the scores rank dialogs, they are not reported as the model's float32 loss)."""

    def __init__(self, model: str, batch_size: int, dtype: str) -> None:
        # the same cached copy as the synthesis client's when that one is the policy model too
        self.model, self.tokenizer = load_policy(model, dtype="auto_bf16" if dtype == "auto" else dtype)
        self.batch_size = batch_size

    def __call__(self, samples: list[dict[str, Any]]) -> list[float]:
        convs = [training_messages(s) for s in samples]
        return assistant_nll(self.model, self.tokenizer, convs, self.batch_size)


def bounds(scores: list[float], params: ComplexityParams | Mapping[str, Any]) -> tuple[float, float]:
    """``(lower, upper)`` from params, else from the ``prior_quantiles`` of ``scores``."""
    cfg = ComplexityParams.of(params)
    finite = sorted(s for s in scores if math.isfinite(s))
    lower, upper = cfg.lower, cfg.upper
    if finite and (lower is None or upper is None):
        q_low, q_high = cfg.prior_quantiles
        pick = lambda q: finite[min(len(finite) - 1, int(q * len(finite)))]  # noqa: E731
        lower = pick(q_low) if lower is None else lower
        upper = pick(q_high) if upper is None else upper
    return float(lower if lower is not None else 0.0), float(upper if upper is not None else math.inf)


def direction(score: float, low: float, high: float) -> str | None:
    """``harder`` for a too-easy dialog, ``simpler`` for a too-hard one, else None."""
    if not math.isfinite(score):
        return None
    return "harder" if score < low else "simpler" if score > high else None


class ComplexityLoop:
    """The complexity loop's shared state over the dialogs of one run: the scorer, the prior set
    and the bounds. Finished dialogs are ``submit``-ted and scored ``batch_size`` at a time (or
    fewer, when ``flush``-ed because nothing else is left to wait for); ``bounds()`` is ``None``
    until the bounds are known (both given in params, or ``prior_size`` first-pass scores seen)."""

    def __init__(self, scorer: Callable[[list[dict[str, Any]]], list[float]],
                 params: ComplexityParams | Mapping[str, Any]) -> None:
        self.scorer = scorer
        self.params = ComplexityParams.of(params)
        self.batch_size = self.params.batch_size
        self.max_rounds = self.params.max_rounds
        self.prior_size = self.params.prior_size
        self.prior: list[float] = []
        self.limits: tuple[float, float] | None = None
        if self.params.lower is not None and self.params.upper is not None:
            self.limits = (float(self.params.lower), float(self.params.upper))
        self._pending: list[tuple[int, dict[str, Any], bool]] = []
        self._scores: dict[int, float] = {}
        self._tickets = 0

    def submit(self, sample: dict[str, Any], first_pass: bool = True) -> int:
        """Queue a finished dialog for scoring; the ticket collects its score from :meth:`scored`.
        First-pass scores (not a regenerated dialog's) fill the prior set, in scoring order."""
        self._tickets += 1
        self._pending.append((self._tickets, sample, first_pass))
        return self._tickets

    def scored(self, ticket: int, flush: bool = False) -> float | None:
        """The ticket's score, scoring the queued dialogs once a batch is full (or ``flush``);
        ``None`` while it waits for a full batch."""
        if ticket not in self._scores and (len(self._pending) >= self.batch_size or flush):
            pending, self._pending = self._pending, []
            for (t, _, first_pass), score in zip(pending, self.scorer([sample for _, sample, _ in pending])):
                self._scores[t] = float(score)
                if first_pass and self.limits is None and math.isfinite(score):
                    self.prior.append(float(score))
        return self._scores.pop(ticket, None)

    def bounds(self, final: bool = False) -> tuple[float, float] | None:
        """``(lower, upper)`` once known; ``final`` (nothing left to wait for) settles them from
        the prior set observed so far, however small."""
        if self.limits is None and (final or len(self.prior) >= self.prior_size):
            self.limits = bounds(self.prior, self.params)
        return self.limits

    def fix(self, limits: tuple[float, float]) -> None:
        """Bounds settled by an earlier run (a resume): the dialogs left use the same ones."""
        if self.limits is None:
            self.limits = (float(limits[0]), float(limits[1]))
