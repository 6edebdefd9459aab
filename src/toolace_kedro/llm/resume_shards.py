"""Shard checkpoints: a killed LLM-heavy loop resumes where it stopped, and ends as if it had not.

The response cache (:mod:`~toolace_kedro.llm.response_cache`) keeps every answer as it arrives. A shard
checkpoint keeps the *outcome* of a finished unit of a stage's loop -- a group of dialogs with
their drop and count statistics, the answers of an evolution generation or a speciation phase,
failure reasons included -- so a rerun skips the unit altogether: it sends no request for it
(not even a re-ask of one that had failed inside it) and ends with the same output and report.

Layout, one folder per fingerprint of everything that decides the stage's output (its inputs,
its parameters, :meth:`LLMClient.identity`)::

    <directory>/<fingerprint>/manifest.json     the stage and when the folder was started
    <directory>/<fingerprint>/shards/<name>.json one finished shard: {"inputs": digest, "value": ...}
    <directory>/<fingerprint>/usage/<run>.json  LLM usage of each process that wrote shards

A changed input, parameter or model is a new fingerprint (a fresh start; the old folder is left
alone). Every file is written under a temporary name, flushed and ``os.replace``-d into place,
so a kill leaves the old file or the new one, never half of one. One run per folder at a time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolace_kedro.llm.base import LLMClient, add_usage, transport_failures
from toolace_kedro.llm.response_cache import request_key
from toolace_kedro.params import CheckpointParams

__all__ = ["ShardCheckpoints", "ShardFailureError"]

logger = logging.getLogger(__name__)

#: fewest failed requests that can stop a run (one or two failures are noise, not an outage)
MIN_FAILURES_TO_STOP = 3


class ShardFailureError(RuntimeError):
    """Too many LLM requests of a shard failed: the shard is not saved and the run stops, so a
    rerun (the endpoint fixed) resumes here instead of keeping a shard of failures."""


def digest(value: Any) -> str:
    """Stable hash of a JSON-serialisable value."""
    return request_key({"value": value})


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh, ensure_ascii=False, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ShardCheckpoints:
    """The finished shards of one stage's loop (a no-op store when ``directory`` is None).

    ``load(name, inputs)`` gives a shard's saved value, or None when it is not there (or was
    made from other ``inputs``); ``save(name, value, inputs)`` stores it. With an ``llm``,
    :meth:`usage` is its usage plus that of the earlier processes that wrote shards here, and
    ``save`` refuses (raising :class:`ShardFailureError`) when more than ``max_failed_share``
    of the requests since the previous save failed for transport reasons."""

    def __init__(self, directory: str | Path | None, stage: str, identity: Any, *, llm: LLMClient | None = None,
                 keep: bool = True, max_failed_share: float | None = None) -> None:
        self.stage = stage
        self.fingerprint = digest({"stage": stage, "identity": identity})[:16]
        self.path = Path(directory) / self.fingerprint if directory else None
        self.llm = llm
        self.keep = keep
        self.max_failed_share = max_failed_share
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.resumed = self.written = 0
        self._mark = self._failure_mark()
        self._stopped: str | None = None  # why the run was stopped: no shard is saved after that
        if self.path is not None:
            for stale in self.path.glob("*/.*.tmp"):  # left by a killed writer
                stale.unlink(missing_ok=True)

    @classmethod
    def from_params(cls, params: CheckpointParams | Mapping[str, Any] | None, stage: str, identity: Any,
                    llm: LLMClient | None = None, part: str | None = None) -> ShardCheckpoints:
        """From a stage's ``checkpoint:`` parameter block (``params.CheckpointParams``: ``dir``,
        ``keep``, ``max_failed_share``); ``part`` names a sub-folder of ``dir`` (one per loop of a
        stage with several). Without a block or ``dir``, nothing is written."""
        cfg = CheckpointParams.of(params)  # a stage's subclass (dialog_generation's) passes as it is
        directory = Path(cfg.dir) / part if cfg.dir and part else cfg.dir
        return cls(directory, f"{stage}.{part}" if part else stage, identity, llm=llm,
                   keep=cfg.keep, max_failed_share=cfg.max_failed_share)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    # ------------------------------------------------------------------ shards
    def load(self, name: str, inputs: Any = None) -> Any | None:
        if self.path is None:
            return None
        file = self.path / "shards" / f"{name}.json"
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("checkpoint %s unreadable (%s): generating the shard again", file, exc)
            return None
        if record.get("inputs") != digest(inputs):
            logger.warning("checkpoint %s was made from other inputs: generating the shard again", file)
            return None
        self.resumed += 1
        return record["value"]

    def save(self, name: str, value: Any, inputs: Any = None) -> None:
        self._check_failures(name)
        self.written += 1
        if self.path is None:
            return
        if not (self.path / "manifest.json").exists():
            _write_json(self.path / "manifest.json", {"stage": self.stage, "fingerprint": self.fingerprint,
                                                      "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        _write_json(self.path / "shards" / f"{name}.json", {"inputs": digest(inputs), "value": value})
        if self.llm is not None:
            _write_json(self.path / "usage" / f"{self.run_id}.json", self.llm.usage.as_dict())

    def chat_batch(self, name: str, llm: LLMClient, conversations: list[list[dict[str, Any]]], **kwargs: Any
                   ) -> tuple[list[str | None], dict[int, str]]:
        """:meth:`LLMClient.try_chat_batch` as one shard: ``(answers, failures)``, from the
        checkpoint when this batch (same conversations and options) has been answered before."""
        inputs = [conversations, kwargs]
        value = self.load(name, inputs)
        if value is None:
            answers, failures = llm.try_chat_batch(conversations, **kwargs)
            value = {"answers": answers, "failures": {str(i): r for i, r in failures.items()}}
            self.save(name, value, inputs)
        return value["answers"], {int(i): r for i, r in value["failures"].items()}

    # ------------------------------------------------------------------ reporting
    def usage(self) -> dict[str, Any]:
        """LLM usage behind the output: this process's plus, as last saved, that of every earlier
        process that wrote shards of this fingerprint (answers that arrived after a killed
        process's last save are counted as cache hits of the run that resumed it)."""
        own = self.llm.usage.as_dict() if self.llm is not None else {}
        earlier = []
        if self.path is not None and (self.path / "usage").is_dir():
            for file in sorted((self.path / "usage").glob("*.json")):
                if file.stem != self.run_id:
                    try:
                        earlier.append(json.loads(file.read_text(encoding="utf-8")))
                    except (OSError, ValueError):
                        logger.warning("usage record %s unreadable: left out of the totals", file)
        return add_usage(*earlier, own)

    def summary(self) -> dict[str, Any]:
        return {"dir": str(self.path) if self.path else None, "shards_resumed": self.resumed,
                "shards_written": self.written}

    def finish(self) -> None:
        """The stage's output is complete: remove the folder unless ``keep``."""
        if self.path is not None and not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)

    # ------------------------------------------------------------------ outage guard
    def _failure_mark(self) -> tuple[int, int]:
        if self.llm is None:
            return 0, 0
        return self.llm.usage.requests, transport_failures(self.llm.usage.failures)

    def _check_failures(self, name: str) -> None:
        if self._stopped is not None:  # (requests still in flight when the run was stopped)
            raise ShardFailureError(self._stopped)
        if self.max_failed_share is None or self.llm is None:
            return
        now = self._failure_mark()
        requests, failed = now[0] - self._mark[0], now[1] - self._mark[1]
        if failed >= MIN_FAILURES_TO_STOP and failed > self.max_failed_share * requests:
            reasons = {k: v for k, v in self.llm.usage.failures.items() if k != "schema_invalid"}
            self._stopped = (f"{self.stage}: {failed} of the {requests} LLM requests behind shard {name!r} failed "
                             f"(all failures so far: {reasons}); the shard was not saved. Fix the endpoint and "
                             f"rerun the same command to resume from the last saved shard.")
            raise ShardFailureError(self._stopped)
        self._mark = now
