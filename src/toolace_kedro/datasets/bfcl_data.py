"""BFCL v4 data: the thirteen scored single-turn categories (Python, Java, JavaScript), read from
the ``bfcl-eval`` wheel (``bfcl_eval/data/BFCL_v4_<category>.json`` and ``possible_answer/BFCL_v4_<category>.json``, JSON
lines), and the non-scoring ``format_sensitivity`` category built from them. The package is
located with ``importlib.util.find_spec`` and never imported (it pulls in every provider SDK).
Entries that cannot be asked or scored are skipped and named by file and line (the project's
bad-input policy); a category without a usable entry is an error.

``format_sensitivity`` (:func:`load_format_sensitivity`): ``BFCL_v4_format_sensitivity.json`` is one
JSON object ``{category: [entry id, ...]}`` naming 200 entries of the eight Python AST categories;
as bfcl-eval's ``load_format_sensitivity_test_cases``, each named entry (categories in the file's
order, entries in their category file's order) is asked once per prompt format of
:data:`~toolace_kedro.toolcalls.bfcl_prompt.FORMAT_SENSITIVITY_FORMATS`, as the entry
``format_sensitivity_<i>:<format>:<entry id>`` with ``i`` counting over entries x formats.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from toolace_kedro.datasets.jsonlines import parse_jsonl
from toolace_kedro.datasets.records import Records
from toolace_kedro.toolcalls.bfcl_prompt import FORMAT_SENSITIVITY_FORMATS

__all__ = ["CATEGORIES", "FILE_TEMPLATE", "FORMAT_SENSITIVITY", "FORMAT_SENSITIVITY_SOURCES", "LANGUAGE_OF",
           "RELEVANCE_CATEGORIES", "SINGLE_TURN_CATEGORIES", "bfcl_data_dir", "entry_problem", "format_sensitivity_id",
           "load_category", "load_format_sensitivity", "parse_format_sensitivity_id"]

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
#: BFCL's non-scoring single-turn category: Python AST entries asked in 26 prompt formats
FORMAT_SENSITIVITY = "format_sensitivity"
#: every single-turn category that can be asked: the thirteen scored ones, then format_sensitivity
SINGLE_TURN_CATEGORIES: tuple[str, ...] = CATEGORIES + (FORMAT_SENSITIVITY,)
#: the categories whose entries format_sensitivity asks (BFCL decodes and checks them as Python)
FORMAT_SENSITIVITY_SOURCES: tuple[str, ...] = ("simple_python", "multiple", "parallel", "parallel_multiple",
                                               "live_simple", "live_multiple", "live_parallel",
                                               "live_parallel_multiple")


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
    ``missing_field`` (id/question/function), ``bad_id`` (a format-sensitivity id BFCL cannot read),
    ``bad_question`` (not turns of ``{role, content}`` messages), ``bad_function`` (not ``{name,
    parameters}`` objects), ``no_possible_answer``."""
    if not isinstance(entry, dict):
        return f"bfcl.missing_field: the entry is a {type(entry).__name__}, not an object"
    missing = [k for k in ("id", "question", "function") if entry.get(k) is None]
    if missing:
        return f"bfcl.missing_field: no {', '.join(missing)}"
    category = category or entry.get("category")
    if category == FORMAT_SENSITIVITY:
        try:
            parse_format_sensitivity_id(entry["id"])
        except ValueError as exc:
            return f"bfcl.bad_id: {exc}"
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
    category with no usable entry is an error. ``format_sensitivity``: see
    :func:`load_format_sensitivity`.
    """
    if category == FORMAT_SENSITIVITY:
        records = load_format_sensitivity(data_dir, on_error)
    elif category in CATEGORIES:
        records = _load_scored(category, Path(data_dir) if data_dir is not None else bfcl_data_dir(), on_error)
    else:
        raise ValueError(f"unknown BFCL category {category!r}; expected one of {', '.join(SINGLE_TURN_CATEGORIES)}")
    if sample_size is not None and 0 <= sample_size < len(records):
        keep = sorted(random.Random(seed).sample(range(len(records)), sample_size))
        records = Records([records[i] for i in keep], source=records.source, lines=[records.lines[i] for i in keep],
                          skipped=records.skipped, on_error=on_error)
    return records


def _load_scored(category: str, root: Path, on_error: str) -> Records:
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
            _skip(skipped, f"{path}:{line}", problem, on_error)
            continue
        entries.append(entry)
        lines.append(line)
    if not entries:
        first = f"{skipped[0]['at']}: {skipped[0]['reason']}" if skipped else "the file is empty"
        raise ValueError(f"{path}: no usable BFCL entry ({len(skipped)} skipped; first: {first})")
    return Records(entries, source=str(path), lines=lines, skipped=skipped, on_error=on_error)


def _skip(skipped: list[dict[str, Any]], at: str, problem: str, on_error: str) -> None:
    """Record (or, with ``on_error="raise"``, raise) a ``"bfcl.<reason>: detail"`` problem at ``file:line``."""
    if on_error == "raise":
        raise ValueError(f"{at}: {problem}")
    reason, _, detail = problem.partition(": ")
    skipped.append({"at": at, "reason": reason, "detail": detail})
    logger.warning("skipped BFCL entry %s: %s", at, problem)


# --------------------------------------------------------------------------- format_sensitivity
def format_sensitivity_id(index: int, prompt_format: str, source_id: str) -> str:
    """BFCL's id of a format-sensitivity entry: ``format_sensitivity_<index>:<format>:<source id>``."""
    return f"{FORMAT_SENSITIVITY}_{index}:{prompt_format}:{source_id}"


def parse_format_sensitivity_id(entry_id: Any) -> tuple[str, str]:
    """``(prompt format, source entry id)`` of a format-sensitivity id, read as bfcl-eval reads it
    (exactly two colons; the format one of :data:`FORMAT_SENSITIVITY_FORMATS`), else ``ValueError``."""
    parts = entry_id.split(":") if isinstance(entry_id, str) else []
    if len(parts) != 3 or not parts[0].startswith(FORMAT_SENSITIVITY + "_"):
        raise ValueError(f"{entry_id!r} is not a format-sensitivity id (format_sensitivity_<i>:<format>:<entry id>)")
    if parts[1] not in FORMAT_SENSITIVITY_FORMATS:
        raise ValueError(f"{entry_id!r}: {parts[1]!r} is not one of BFCL's 26 format-sensitivity prompt formats")
    return parts[1], parts[2]


def _line_of(text: str, needle: str) -> int:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def load_format_sensitivity(data_dir: str | Path | None = None, on_error: str = "skip",
                            sources: Mapping[str, list[dict[str, Any]]] | None = None) -> Records:
    """The ``format_sensitivity`` entries: each entry named in ``BFCL_v4_format_sensitivity.json``
    once per prompt format, as ``{id, category: "format_sensitivity", source_category, source_id,
    format, question, function, possible_answer}`` (question, functions and answer are the named
    entry's own, shared, not copied). ``sources`` may hold the named categories already loaded
    (else they are read, and what their loader skipped is kept here too). A file that is not a JSON object of id lists is an error; a category that
    is not one of :data:`FORMAT_SENSITIVITY_SOURCES`, a list that is not one of ids, or an id not
    among its category's usable entries is skipped and named by file and line (``on_error="raise"``:
    an error). A source entry skipped here shifts BFCL's index ``i`` of the entries after it."""
    root = Path(data_dir) if data_dir is not None else bfcl_data_dir()
    path = root / FILE_TEMPLATE.format(FORMAT_SENSITIVITY)
    if not path.is_file():
        raise FileNotFoundError(f"BFCL file {path} is missing (is bfcl-eval==2026.3.23 installed?)")
    text = path.read_text(encoding="utf-8")
    try:
        named = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(named, dict):  # bad input as a whole (a ValueError, as every bad input here)
        raise ValueError(  # noqa: TRY004
            f"{path}: expected a JSON object {{category: [entry id, ...]}}, got a {type(named).__name__}")
    skipped: list[dict[str, Any]] = []
    chosen: list[tuple[str, dict[str, Any], int]] = []
    for category, ids in named.items():
        line = _line_of(text, json.dumps(category))
        if category not in FORMAT_SENSITIVITY_SOURCES:
            _skip(skipped, f"{path}:{line}", f"bfcl.unknown_category: {category!r} is not one of the Python AST "
                  f"categories format_sensitivity asks ({', '.join(FORMAT_SENSITIVITY_SOURCES)})", on_error)
            continue
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            _skip(skipped, f"{path}:{line}", f"bfcl.bad_ids: {category!r} must list entry ids (strings)", on_error)
            continue
        if not ids:  # BFCL skips a category with no ids
            continue
        if sources is not None and category in sources:
            entries = sources[category]  # (what its loader skipped is reported under that category)
        else:
            entries = load_category(category, data_dir=root, on_error=on_error)
            skipped += entries.skipped
        wanted = set(ids)
        found = {e["id"]: e for e in entries if e.get("id") in wanted}
        for missing in dict.fromkeys(i for i in ids if i not in found):
            _skip(skipped, f"{path}:{_line_of(text, json.dumps(missing))}", f"bfcl.unknown_id: {missing!r} is not a "
                  f"usable {category} entry", on_error)
        chosen += [(category, e, _line_of(text, json.dumps(e["id"]))) for e in entries if e["id"] in found]
    out, lines = [], []
    for category, entry, line in chosen:
        for prompt_format in FORMAT_SENSITIVITY_FORMATS:
            out.append({"id": format_sensitivity_id(len(out), prompt_format, entry["id"]),
                        "category": FORMAT_SENSITIVITY, "source_category": category, "source_id": entry["id"],
                        "format": prompt_format, "question": entry["question"], "function": entry["function"],
                        "possible_answer": entry["possible_answer"]})
            lines.append(line)
    if not out:
        first = f"{skipped[0]['at']}: {skipped[0]['reason']}" if skipped else "it names no entry"
        raise ValueError(f"{path}: no usable BFCL entry ({len(skipped)} skipped; first: {first})")
    return Records(out, source=str(path), lines=lines, skipped=skipped, on_error=on_error)
