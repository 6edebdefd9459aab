"""``JSONLinesDataset``: one JSON object per line, versioned, on any fsspec filesystem.

The storage of every record dataset of the project (API pool, dialogs, pairs, predictions).
Loading applies the bad-input policy: with ``on_error: skip`` (the default) a line that is not a
JSON object is skipped, and each one is logged with the file and line number and counted on
``dataset.skipped``; with ``on_error: raise`` the first bad line raises a ``DatasetError`` that
names file and line. A file in which no line is readable raises either way.

``load()`` returns :class:`~toolace_kedro.datasets.records.Records`, a list that also carries the
file, each record's line number, the skipped lines and ``on_error``, so the stage that reads it
can name file and line for record-level problems too (``validate_records``).
"""

from __future__ import annotations

import json
import logging
import os
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any, Iterable

import fsspec
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str, get_protocol_and_path

from toolace_kedro.datasets.records import BAD_JSON, Records

__all__ = ["JSONLinesDataset", "parse_jsonl"]

logger = logging.getLogger(__name__)


def parse_jsonl(lines: Iterable[str], source: str, on_error: str = "skip") -> tuple[Records, list[str]]:
    """Read JSON-object lines; return ``(records, problems)`` where each problem names
    ``source:line`` (``records`` is a :class:`Records` that keeps the line numbers and the
    skipped lines). Blank lines are ignored."""
    records: list[dict] = []
    numbers: list[int] = []
    skipped: list[dict] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.rstrip("\r\n"))  # (error positions within the line)
            if not isinstance(value, dict):
                raise ValueError(f"a JSON {type(value).__name__}, not an object")
        except (ValueError, RecursionError) as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if on_error == "raise":
                raise DatasetError(f"bad JSON line {source}:{number}: {detail}") from None
            skipped.append({"at": f"{source}:{number}", "reason": BAD_JSON, "detail": detail})
            continue
        records.append(value)
        numbers.append(number)
    problems = [f"{s['at']}: {s['detail']}" for s in skipped]
    if problems and not records:
        raise DatasetError(f"{source}: no readable JSON line ({len(problems)} bad; first: {problems[0]})")
    return Records(records, source=source, lines=numbers, skipped=skipped, on_error=on_error), problems


class JSONLinesDataset(AbstractVersionedDataset[list, list]):
    """Versioned JSON Lines file of dict records.

    Catalog example::

        dialogs:
          type: toolace_kedro.datasets.JSONLinesDataset
          filepath: data/03_primary/dialogs.jsonl
          versioned: true
          load_args: {on_error: skip}
    """

    def __init__(  # noqa: PLR0913
        self,
        *,
        filepath: str | os.PathLike,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        fs_args = deepcopy(fs_args) or {}
        protocol, path = get_protocol_and_path(str(filepath), version)
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **fs_args)
        self._on_error = (load_args or {}).get("on_error", "skip")
        if self._on_error not in ("skip", "raise"):
            raise DatasetError(f"on_error must be 'skip' or 'raise', got {self._on_error!r}")
        self.metadata = metadata
        self.skipped: list[str] = []
        self._reported: set[str] = set()
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._fs.exists, glob_function=self._fs.glob)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version,
                "on_error": self._on_error}

    def load(self) -> list[dict]:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, mode="r", encoding="utf-8", errors="replace") as handle:
            records, self.skipped = parse_jsonl(handle, path, self._on_error)
        if self.skipped and path not in self._reported:  # every node that reads it loads it: say it once
            self._reported.add(path)
            for problem in self.skipped[:20]:
                logger.warning("skipped bad line %s", problem)
            logger.warning("%s: skipped %d bad lines, kept %d records", path, len(self.skipped), len(records))
        return records

    def save(self, data: list[dict]) -> None:
        path = get_filepath_str(self._get_save_path(), self._protocol)
        tmp = path + ".partial"
        with self._fs.open(tmp, mode="w", encoding="utf-8") as handle:
            for record in data:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fs.mv(tmp, path)  # a killed save never leaves a truncated file under the real name
        self._fs.invalidate_cache(path)

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)
