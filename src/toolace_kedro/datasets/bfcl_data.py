"""BFCL v4 data: the thirteen scored single-turn categories (Python, Java, JavaScript), read from
the ``bfcl-eval`` wheel (``bfcl_eval/data/BFCL_v4_<category>.json`` and ``possible_answer/BFCL_v4_<category>.json``, JSON
lines). The package is located with ``importlib.util.find_spec`` and never imported (it pulls in
every provider SDK). Entries that cannot be asked or scored are skipped and named by file and line
(the project's bad-input policy); a category without a usable entry is an error.
"""

from __future__ import annotations

import importlib.util
import logging
import random
from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from toolace_kedro.datasets.jsonlines import parse_jsonl
from toolace_kedro.datasets.records import Records

__all__ = ["CATEGORIES", "FILE_TEMPLATE", "LANGUAGE_OF", "RELEVANCE_CATEGORIES", "bfcl_data_dir", "entry_problem",
           "load_category"]

logger = logging.getLogger(__name__)

#: BFCL v4's scored single-turn categories (file ``BFCL_v4_<category>.json`` each).
CATEGORIES: tuple[str, ...] = ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel",
                               "parallel_multiple", "irrelevance", "live_simple", "live_multiple", "live_parallel",
                               "live_parallel_multiple", "live_irrelevance", "live_relevance")
#: Categories whose answers BFCL decodes and type-checks as another language than Python.
LANGUAGE_OF: dict[str, str] = {"simple_java": "java", "simple_javascript": "javascript"}
#: Categories without a possible-answer file: only "call or no call" is scored.
RELEVANCE_CATEGORIES: frozenset[str] = frozenset({"irrelevance", "live_irrelevance", "live_relevance"})
FILE_TEMPLATE = "BFCL_v4_{}.json"


def bfcl_data_dir() -> Path:
    """The ``data`` folder of the installed ``bfcl-eval`` wheel (located, not imported)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("bfcl-eval is not installed; `pip install --no-deps bfcl-eval==2026.3.23` "
                                "provides the BFCL data (bfcl_eval/data/)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _read_jsonl(path: Path, on_error: str) -> Records:
    if not path.is_file():
        raise FileNotFoundError(f"BFCL file {path} is missing (is bfcl-eval==2026.3.23 installed?)")
    try:
        return parse_jsonl(path.read_text(encoding="utf-8").splitlines(), str(path), on_error)[0]
    except DatasetError as exc:
        raise ValueError(str(exc)) from None


def entry_problem(entry: Any, category: str | None = None) -> str | None:
    """Why a BFCL entry cannot be asked or scored, as ``"bfcl.<reason>: detail"``, or None:
    ``missing_field`` (id/question/function), ``bad_question`` (not turns of ``{role, content}``
    messages), ``bad_function`` (not ``{name, parameters}`` objects), ``no_possible_answer``."""
    if not isinstance(entry, dict):
        return f"bfcl.missing_field: the entry is a {type(entry).__name__}, not an object"
    missing = [k for k in ("id", "question", "function") if entry.get(k) is None]
    if missing:
        return f"bfcl.missing_field: no {', '.join(missing)}"
    question = entry["question"]
    if not isinstance(question, list) or not all(
            isinstance(turn, list) and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                           and isinstance(m.get("content"), str) for m in turn) for turn in question):
        return "bfcl.bad_question: question must be a list of turns, each a list of {role, content} messages"
    functions = entry["function"]
    if not isinstance(functions, list) or not all(
            isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("parameters"), dict)
            for f in functions):
        return "bfcl.bad_function: function must be a list of {name, parameters} objects"
    category = category or entry.get("category")
    answer = entry.get("possible_answer")
    if category not in RELEVANCE_CATEGORIES and not (
            isinstance(answer, list) and all(isinstance(a, dict) and len(a) == 1 for a in answer)):
        return f"bfcl.no_possible_answer: no ground_truth list of {{function: arguments}} for {entry['id']}"
    return None


def load_category(category: str, sample_size: int | None = None, seed: int = 0,
                  data_dir: str | Path | None = None, on_error: str = "skip") -> Records:
    """Entries ``{id, category, question, function, possible_answer}`` of one category, in file order.

    ``possible_answer`` is the ``ground_truth`` list, None for relevance categories. With
    ``sample_size`` a seeded subset of that size is kept (still in file order). A line that is not
    JSON or an entry :func:`entry_problem` rejects is skipped, logged and kept in the result's
    ``skipped`` with file and line (``on_error="raise"``: a ``ValueError`` naming them); a
    category with no usable entry is an error.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; expected one of {', '.join(CATEGORIES)}")
    root = Path(data_dir) if data_dir is not None else bfcl_data_dir()
    path = root / FILE_TEMPLATE.format(category)
    rows = _read_jsonl(path, on_error)
    answers: dict[str, Any] = {}
    skipped = list(rows.skipped)
    if category not in RELEVANCE_CATEGORIES:
        answer_rows = _read_jsonl(root / "possible_answer" / FILE_TEMPLATE.format(category), on_error)
        answers = {a.get("id"): a.get("ground_truth") for a in answer_rows}
        skipped += answer_rows.skipped
    for skip in skipped:
        logger.warning("skipped BFCL line %s: %s", skip["at"], skip["detail"])
    entries, lines = [], []
    for row, line in zip(rows, rows.lines):
        entry = {"id": row.get("id"), "category": category, "question": row.get("question"),
                 "function": row.get("function"), "possible_answer": answers.get(row.get("id"))}
        problem = entry_problem(entry, category)
        if problem is not None:
            if on_error == "raise":
                raise ValueError(f"{path}:{line}: {problem}")
            reason, _, detail = problem.partition(": ")
            skipped.append({"at": f"{path}:{line}", "reason": reason, "detail": detail})
            logger.warning("skipped BFCL entry %s:%d: %s", path, line, problem)
            continue
        entries.append(entry)
        lines.append(line)
    if not entries:
        first = f"{skipped[0]['at']}: {skipped[0]['reason']}" if skipped else "the file is empty"
        raise ValueError(f"{path}: no usable BFCL entry ({len(skipped)} skipped; first: {first})")
    if sample_size is not None and 0 <= sample_size < len(entries):
        keep = sorted(random.Random(seed).sample(range(len(entries)), sample_size))
        entries, lines = [entries[i] for i in keep], [lines[i] for i in keep]
    return Records(entries, source=str(path), lines=lines, skipped=skipped, on_error=on_error)
