"""``BFCLDataset``: the single-turn BFCL categories bundled in the ``bfcl-eval`` wheel, read-only;
``BFCLMultiTurnDataset``: its multi-turn categories.

``load()`` gives ``{category: [entry, ...]}`` with each entry's possible answer attached (see
:func:`toolace_kedro.datasets.bfcl_data.load_category`; ``format_sensitivity`` entries share the
loaded source entries' questions and functions); sampling is the evaluation
pipeline's job, so the decontamination report sees every question. Malformed lines and entries are
skipped and named by file and line (each category's list is a ``Records`` that keeps them, for the
evaluation report); ``on_error: raise`` makes the first one an error.
"""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError

__all__ = ["BFCLDataset", "BFCLMultiTurnDataset"]


class BFCLDataset(AbstractDataset[None, dict]):
    """Catalog example::

        bfcl_data:
          type: toolace_kedro.datasets.BFCLDataset
          categories: [simple_python, multiple, irrelevance]   # default: all fourteen
          data_dir: null        # default: bfcl_eval/data of the installed wheel
          on_error: skip        # or raise
    """

    def __init__(self, categories: list[str] | None = None, data_dir: str | None = None,
                 metadata: dict[str, Any] | None = None, on_error: str = "skip") -> None:
        from toolace_kedro.datasets.bfcl_data import SINGLE_TURN_CATEGORIES

        self._categories = list(categories or SINGLE_TURN_CATEGORIES)
        unknown = sorted(set(self._categories) - set(SINGLE_TURN_CATEGORIES))
        if unknown:
            raise DatasetError(f"unknown BFCL categories {unknown}; known: {', '.join(SINGLE_TURN_CATEGORIES)}")
        self._data_dir = data_dir
        if on_error not in ("skip", "raise"):
            raise DatasetError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self._on_error = on_error
        self.metadata = metadata

    def load(self) -> dict[str, list[dict[str, Any]]]:
        from toolace_kedro.datasets.bfcl_data import (
            FORMAT_SENSITIVITY,
            load_category,
            load_format_sensitivity,
        )

        try:
            data = {c: load_category(c, data_dir=self._data_dir, on_error=self._on_error)
                    for c in self._categories if c != FORMAT_SENSITIVITY}
            if FORMAT_SENSITIVITY in self._categories:  # its entries come from the categories just read
                data[FORMAT_SENSITIVITY] = load_format_sensitivity(self._data_dir, self._on_error, sources=data)
            return {c: data[c] for c in self._categories}
        except (FileNotFoundError, ValueError) as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: None) -> None:
        raise DatasetError("BFCLDataset is read-only: its data ships in the bfcl-eval wheel")

    def _describe(self) -> dict[str, Any]:
        return {"categories": self._categories, "data_dir": self._data_dir, "on_error": self._on_error}


class BFCLMultiTurnDataset(AbstractDataset[None, dict]):
    """BFCL's multi-turn categories, read-only: ``{category: [entry, ...]}`` as
    :func:`toolace_kedro.datasets.bfcl_multi_turn.load_multi_turn_category` prepares them (the
    involved classes' function documents attached, ``miss_func``'s held-back ones moved to their
    turn, the ground-truth trajectory). Catalog example::

        bfcl_multi_turn_data:
          type: toolace_kedro.datasets.BFCLMultiTurnDataset
          categories: [multi_turn_base]   # default: all four
    """

    def __init__(self, categories: list[str] | None = None, data_dir: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        from toolace_kedro.datasets.bfcl_multi_turn import MULTI_TURN_CATEGORIES

        self._categories = list(categories or MULTI_TURN_CATEGORIES)
        unknown = sorted(set(self._categories) - set(MULTI_TURN_CATEGORIES))
        if unknown:
            raise DatasetError(f"unknown BFCL multi-turn categories {unknown}; known: {', '.join(MULTI_TURN_CATEGORIES)}")
        self._data_dir = data_dir
        self.metadata = metadata

    def load(self) -> dict[str, list[dict[str, Any]]]:
        from toolace_kedro.datasets.bfcl_multi_turn import load_multi_turn_category

        try:
            return {c: load_multi_turn_category(c, data_dir=self._data_dir) for c in self._categories}
        except (FileNotFoundError, ValueError) as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: None) -> None:
        raise DatasetError("BFCLMultiTurnDataset is read-only: its data ships in the bfcl-eval wheel")

    def _describe(self) -> dict[str, Any]:
        return {"categories": self._categories, "data_dir": self._data_dir}
