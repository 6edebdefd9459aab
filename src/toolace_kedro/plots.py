"""Plot helpers shared by the stages' reports (matplotlib on the Agg backend: no display needed)."""

from __future__ import annotations

__all__ = ["bar_chart"]


def bar_chart(counts: dict[str, int], title: str, xlabel: str):
    """Horizontal bars of ``counts``, largest first; returns the figure (for ``MatplotlibWriter``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.3 * len(items) + 1)))
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#4c72b0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig
