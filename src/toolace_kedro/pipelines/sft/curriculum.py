"""iTool's easy-to-hard warm-up: order the training dialogs by difficulty under the policy being
trained and cut them into stages trained one after another.

Difficulty is the policy's mean token NLL on the assistant turns (``models.scoring.assistant_nll``
over ``toolcalls.training_messages``, tools cut to ``tool_fields``): the measure of ToolACE's
complexity evaluator and of
iTool's perplexity. ``difficulty: policy`` (default) scores every dialog with the policy about to
be trained; ``difficulty: meta`` reuses ``meta.complexity`` written by dialog_generation's
evaluator when every dialog has one (it was measured with ``complexity.policy_model``, which may
not be the policy trained here); if any dialog lacks one, all are scored with the policy (one scale).
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any

from toolace_kedro.models.scoring import assistant_nll
from toolace_kedro.pipelines.sft.formatting import TOOL_FIELDS, prompt_messages

__all__ = ["difficulty_scores", "split_stages", "stages_of"]

logger = logging.getLogger(__name__)


def difficulty_scores(samples: list[dict[str, Any]], model: Any, tokenizer: Any, call_format: str = "python",
                      batch_size: int = 4, max_length: int = 2048,
                      tool_fields: tuple[str, ...] | list[str] | None = TOOL_FIELDS) -> list[float]:
    """Mean assistant-token NLL of each sample under ``model`` (NaN when it has no assistant text),
    in the prompt format the policy is trained on."""
    conversations = [prompt_messages(s, call_format, tool_fields) for s in samples]
    scores = []
    from tqdm.auto import tqdm

    for start in tqdm(range(0, len(conversations), batch_size), desc="difficulty", disable=len(conversations) < 32):
        scores.extend(assistant_nll(model, tokenizer, conversations[start : start + batch_size], batch_size,
                                    max_length))
    return scores


def split_stages(samples: list[dict[str, Any]], scores: list[float], n_stages: int, curriculum: bool = True,
                 seed: int = 0, strata: list[str] | None = None) -> list[list[dict[str, Any]]]:
    """Easy-to-hard stages: samples sorted by score (ties and NaN scores last, in input order) and
    cut into ``n_stages`` contiguous parts whose sizes differ by at most one. With ``strata`` (one
    key per sample, e.g. its dialog type) each stratum is sorted and cut on its own and stage ``k``
    joins the ``k``-th parts, so every stage holds the strata in the pool's proportions. With
    ``curriculum=False`` one stage holding all samples in a seeded shuffle (the ablation)."""
    if len(samples) != len(scores):
        raise ValueError(f"{len(samples)} samples but {len(scores)} scores")
    if strata is not None and len(strata) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(strata)} strata")
    if not curriculum:
        shuffled = list(samples)
        random.Random(seed).shuffle(shuffled)
        return [shuffled] if shuffled else []
    if n_stages < 1:
        raise ValueError(f"sft.curriculum.n_stages must be >= 1, got {n_stages}")
    n_stages = min(n_stages, len(samples)) or 1
    groups: dict[str, list[int]] = {}
    for i in range(len(samples)):
        groups.setdefault(strata[i] if strata is not None else "", []).append(i)
    stages: list[list[dict[str, Any]]] = [[] for _ in range(n_stages)]
    for members in groups.values():
        order = sorted(members, key=lambda i: (not math.isfinite(scores[i]),
                                               scores[i] if math.isfinite(scores[i]) else 0.0, i))
        size, extra = divmod(len(order), n_stages)
        # a stratum's remainder goes to the stages holding the fewest samples so far (earlier first)
        bigger = set(sorted(range(n_stages), key=lambda k: (len(stages[k]), k))[:extra])
        start = 0
        for k in range(n_stages):
            end = start + size + (k in bigger)
            stages[k].extend(samples[i] for i in order[start:end])
            start = end
    return [s for s in stages if s]


def stages_of(curriculum: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The stages of an ordered curriculum, grouped by ``meta.curriculum_stage`` (1, 2, ...)."""
    stages: dict[int, list[dict[str, Any]]] = {}
    for sample in curriculum:
        stage = (sample.get("meta") or {}).get("curriculum_stage")
        if not isinstance(stage, int) or stage < 1:
            raise ValueError(f"dialog {sample.get('id')!r}: meta.curriculum_stage must be an int >= 1, got {stage!r}")
        stages.setdefault(stage, []).append(sample)
    return [stages[k] for k in sorted(stages)]
