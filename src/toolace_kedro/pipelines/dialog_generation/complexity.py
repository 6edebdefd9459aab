"""ToolACE's complexity evaluator: H(x, y) = mean token NLL of the assistant turns under the
model to be trained (teacher-forced, batched). Dialogs below the lower bound are too easy and
are regenerated with a user told to need more and to word the request further from the API
description; above the upper bound they are simplified. Bounds come from params, or from
quantiles of the first round's scores (the "small prior set")."""

from __future__ import annotations

import math
from typing import Any

from toolace_kedro.models import load_policy
from toolace_kedro.models.scoring import assistant_nll
from toolace_kedro.toolcalls import training_messages


class ComplexityEvaluator:
    """Scores samples with the policy model. ``dtype: auto`` scores in bfloat16 on a CPU with
    native bf16 (a teacher-forced pass is prompt processing: ~3.5x faster there than float32;
    the scores rank dialogs, they are not reported as the model's float32 loss)."""

    def __init__(self, model: str, batch_size: int = 8, dtype: str = "auto") -> None:
        import torch

        if dtype == "auto":
            cpu_bf16 = (not torch.cuda.is_available() and torch.backends.mkldnn.is_available()
                        and torch.ops.mkldnn._is_mkldnn_bf16_supported())
            dtype = "bfloat16" if cpu_bf16 else "auto"
        self.model, self.tokenizer = load_policy(model, dtype=dtype)
        self.batch_size = batch_size

    def __call__(self, samples: list[dict[str, Any]]) -> list[float]:
        convs = [training_messages(s) for s in samples]
        return assistant_nll(self.model, self.tokenizer, convs, self.batch_size)


def bounds(scores: list[float], params: dict[str, Any]) -> tuple[float, float]:
    """``(lower, upper)`` from params, else from the ``prior_quantiles`` of ``scores``."""
    finite = sorted(s for s in scores if math.isfinite(s))
    lower, upper = params.get("lower"), params.get("upper")
    if finite and (lower is None or upper is None):
        q_low, q_high = params["prior_quantiles"]
        pick = lambda q: finite[min(len(finite) - 1, int(q * len(finite)))]  # noqa: E731
        lower = pick(q_low) if lower is None else lower
        upper = pick(q_high) if upper is None else upper
    return float(lower if lower is not None else 0.0), float(upper if upper is not None else math.inf)


def direction(score: float, low: float, high: float) -> str | None:
    """``harder`` for a too-easy dialog, ``simpler`` for a too-hard one, else None."""
    if not math.isfinite(score):
        return None
    return "harder" if score < low else "simpler" if score > high else None
