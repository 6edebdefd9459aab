"""Small-sample statistics for comparing policies on the same items: Wilson score intervals for an
accuracy and the exact McNemar test for two policies' verdicts on the same items (paired).

A difference between two policies counts only when the paired test says so: with n items per
category the intervals are wide (0 of 40 is 0-8.8 %, 12 of 40 is 18-45 %), so the report gives n,
the interval and the test's p-value beside every figure.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

__all__ = ["ALPHA", "mcnemar_exact", "paired_comparison", "wilson_interval"]

#: significance level of the paired comparisons
ALPHA = 0.05


def wilson_interval(correct: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of ``correct`` successes in ``n`` trials (95 % by default);
    ``(0.0, 1.0)`` for ``n == 0``."""
    if n < 0 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n, got correct={correct}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts: ``b`` items only the first
    policy got right, ``c`` only the second (a binomial test of b against Bin(b + c, 1/2))."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_comparison(first: Sequence[bool], second: Sequence[bool], alpha: float = ALPHA) -> dict[str, Any]:
    """``second`` against ``first`` on the same items (verdicts aligned): counts, the discordant
    pairs, the exact McNemar p-value and ``verdict`` = ``better`` / ``worse`` (significant at
    ``alpha``) or ``no significant difference``."""
    if len(first) != len(second):
        raise ValueError(f"paired verdicts must align, got {len(first)} and {len(second)}")
    gained = sum(1 for a, b in zip(first, second) if b and not a)
    lost = sum(1 for a, b in zip(first, second) if a and not b)
    p = mcnemar_exact(gained, lost)
    verdict = "no significant difference"
    if p < alpha:
        verdict = "better" if gained > lost else "worse"
    return {"n": len(first), "first_correct": sum(map(bool, first)), "second_correct": sum(map(bool, second)),
            "gained": gained, "lost": lost, "p_value": p, "verdict": verdict}
