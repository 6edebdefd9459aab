"""The record-level bad-input policy every stage applies at its input boundary.

A loader (``JSONLinesDataset``, ``BFCLDataset``) returns :class:`Records`: a plain ``list`` of
records that also remembers its file (``source``), the line of each record (``lines``), the lines
it could not read (``skipped``) and the dataset's ``on_error`` setting. A node hands its input to
:func:`validate_records` with a validator (``record -> None | "reason: detail"``, e.g.
``toolcalls.dialog_problem``): a bad record is skipped, logged and counted with its file and line,
and the node puts the returned report in its stage report under ``skipped_input``::

    {"dataset": "dialogs", "source": "data/03_primary/dialogs.jsonl/<version>/dialogs.jsonl",
     "records": 12, "kept": 10, "skipped": 2, "by_reason": {"bad_json": 1, "not_canonical": 1},
     "examples": [".../dialogs.jsonl:4: bad_json: Expecting value: ...",
                  ".../dialogs.jsonl:9 (id 'd7'): not_canonical: messages.0.role: ..."]}

An input that is unusable as a whole (not a list, empty, nothing left after skipping) raises
:class:`BadInputError` with one line naming the dataset, the file and the reason; so does the
first bad record when the dataset says ``on_error: raise``. In-memory inputs (plain lists) work
the same, located as ``dataset[index]``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["BAD_JSON", "BadInputError", "Records", "locate", "validate_records"]

logger = logging.getLogger(__name__)

#: reason of a line that is not a JSON object
BAD_JSON = "bad_json"
#: records named one by one in a report and in the log (the rest are counted)
EXAMPLES = 5
LOGGED = 20

Validator = Callable[[Any], "str | None"]


class BadInputError(ValueError):
    """An input unusable as a whole, or a bad record under ``on_error: raise``; the message is
    one line naming the dataset, the file and the reason."""


class Records(list):
    """A list of records that remembers where it came from (see the module docstring).

    ``skipped`` holds ``{"at": "file:line", "reason", "detail"}`` for each record the loader
    dropped. Pickles and deep-copies with its attributes (Kedro's memory datasets copy inputs).
    """

    def __init__(self, items: Iterable[Any] = (), *, source: str | None = None, lines: list[int] | None = None,
                 skipped: list[dict[str, Any]] | None = None, on_error: str = "skip") -> None:
        super().__init__(items)
        self.source = source
        self.lines = list(lines) if lines is not None else None
        self.skipped = list(skipped or [])
        self.on_error = on_error


def _record_id(record: Any) -> str:
    value = record.get("id") if isinstance(record, dict) else None
    return f" (id {value!r})" if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def locate(records: list, index: int, dataset: str) -> str:
    """Where ``records[index]`` came from: ``file:line`` when the loader said, else ``dataset[index]``;
    plus the record's ``id`` when it has one."""
    lines, source = getattr(records, "lines", None), getattr(records, "source", None)
    if source and lines is not None and len(lines) == len(records):
        where = f"{source}:{lines[index]}"
    else:
        where = f"{dataset}[{index}]"
    return where + _record_id(records[index])


def _named(dataset: str, source: str | None) -> str:
    return f"{dataset} ({source})" if source else dataset


def validate_records(records: Any, validator: Validator | None, dataset: str, *, on_error: str | None = None,
                     allow_empty: bool = False) -> tuple[list, dict[str, Any]]:
    """Keep the records ``validator`` accepts; return them and the ``skipped_input`` report.

    ``validator(record)`` returns None for a usable record, else ``"reason"`` or
    ``"reason: detail"`` (``None`` as validator only reports what the loader skipped). Lines the
    loader skipped (``Records.skipped``) are counted under their reason too. ``on_error``
    defaults to the loader's setting (``skip``); ``raise`` makes the first bad record an error.
    With ``allow_empty`` false, an input with no usable record is an error.
    """
    if not isinstance(records, list):
        raise BadInputError(f"{dataset}: expected a list of records, got {type(records).__name__}")
    source = getattr(records, "source", None)
    on_error = on_error or getattr(records, "on_error", "skip")
    reasons: Counter = Counter()
    examples: list[str] = []
    for skip in getattr(records, "skipped", []):  # logged by the loader already
        reasons[skip["reason"]] += 1
        if len(examples) < EXAMPLES:
            examples.append(f"{skip['at']}: {skip['reason']}: {skip['detail']}")
    kept = []
    for i, record in enumerate(records):
        problem = validator(record) if validator is not None else None
        if problem is None:
            kept.append(record)
            continue
        where = locate(records, i, dataset)
        if on_error == "raise":
            raise BadInputError(f"{_named(dataset, source)}: bad record at {where}: {problem}")
        reasons[problem.split(": ", 1)[0]] += 1
        if len(examples) < EXAMPLES:
            examples.append(f"{where}: {problem}")
        n_bad = sum(reasons.values())
        if n_bad <= LOGGED:
            logger.warning("%s: skipped record at %s: %s", dataset, where, problem)
        elif n_bad == LOGGED + 1:
            logger.warning("%s: more bad records; the rest are only counted", dataset)
    skipped = sum(reasons.values())
    report = {"dataset": dataset, "source": source, "records": len(records) + len(getattr(records, "skipped", [])),
              "kept": len(kept), "skipped": skipped, "by_reason": dict(reasons.most_common()), "examples": examples}
    if skipped > len(getattr(records, "skipped", [])):  # (the loader logged its own skips)
        logger.warning("%s: skipped %d of %d records %s", _named(dataset, source), skipped, report["records"],
                       report["by_reason"])
    if not kept and not allow_empty:
        why = f"{skipped} skipped {report['by_reason']}; first: {examples[0]}" if skipped else "the input is empty"
        raise BadInputError(f"{_named(dataset, source)}: no usable record ({why})")
    return kept, report
