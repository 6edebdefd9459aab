"""BFCL v4's multi-turn categories, read from the ``bfcl-eval`` wheel as BFCL's own loader prepares them.

Files: ``bfcl_eval/data/BFCL_v4_<category>.json`` (entries: ``question`` as a list of turns,
``initial_config`` per backend class, ``involved_classes``, for ``miss_func`` ``missed_function``
``{turn: [names]}``), ``possible_answer/BFCL_v4_<category>.json`` (``ground_truth``: per turn the
call strings of the reference trajectory) and ``multi_turn_func_doc/<class file>.json`` (the
function documents of each backend class). As BFCL's ``populate_test_cases_with_predefined_functions``
does, an entry's ``function`` list is the documents of its involved classes in their order, and a
missed function's document moves from that list to ``missed_function[turn]`` (it is shown to the
policy only at that turn). Documents are kept as shipped: BFCL adds its Python language hint to
the ``function`` list only (``toolcalls.bfcl_prompt.bfcl_messages`` adds it when it builds the
system prompt), never to the missed functions' documents.
"""

from __future__ import annotations

import copy
import json
import random
from functools import cache
from pathlib import Path
from typing import Any

from toolace_kedro.datasets.bfcl_data import FILE_TEMPLATE, bfcl_data_dir

__all__ = ["FUNC_DOC_FILES", "MULTI_TURN_CATEGORIES", "function_docs", "load_multi_turn_category",
           "multi_turn_problem"]

#: BFCL v4's multi-turn categories (file ``BFCL_v4_<category>.json`` each).
MULTI_TURN_CATEGORIES: tuple[str, ...] = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param",
                                          "multi_turn_long_context")
#: The function-document file of each backend class (``data/multi_turn_func_doc/``).
FUNC_DOC_FILES: dict[str, str] = {
    "GorillaFileSystem": "gorilla_file_system.json", "MathAPI": "math_api.json", "MessageAPI": "message_api.json",
    "TwitterAPI": "posting_api.json", "TicketAPI": "ticket_api.json", "TradingBot": "trading_bot.json",
    "TravelAPI": "travel_booking.json", "VehicleControlAPI": "vehicle_control.json"}


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"BFCL file {path} is missing (is bfcl-eval==2026.3.23 installed?)")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
    return rows


@cache
def _docs(class_name: str, data_dir: str) -> tuple[str, ...]:
    if class_name not in FUNC_DOC_FILES:
        raise ValueError(f"unknown BFCL backend class {class_name!r}; expected one of {', '.join(FUNC_DOC_FILES)}")
    path = Path(data_dir) / "multi_turn_func_doc" / FUNC_DOC_FILES[class_name]
    return tuple(json.dumps(doc) for doc in _read_lines(path))


def function_docs(class_name: str, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The function documents of one backend class, as shipped (a fresh copy each call)."""
    return [json.loads(doc) for doc in _docs(class_name, str(data_dir or bfcl_data_dir()))]


def multi_turn_problem(entry: Any) -> str | None:
    """Why a multi-turn entry cannot be run or scored, or None."""
    if not isinstance(entry, dict):
        return f"the entry is a {type(entry).__name__}, not an object"
    missing = [k for k in ("id", "question", "involved_classes", "ground_truth") if entry.get(k) is None]
    if missing:
        return f"no {', '.join(missing)}"
    question, truth = entry["question"], entry["ground_truth"]
    if not isinstance(question, list) or not all(isinstance(turn, list) for turn in question):
        return "question must be a list of turns"
    if not isinstance(truth, list) or len(truth) != len(question) or not all(
            isinstance(turn, list) and all(isinstance(c, str) for c in turn) for turn in truth):
        return "ground_truth must hold one list of call strings per turn"
    unknown = [c for c in entry["involved_classes"] if c not in FUNC_DOC_FILES]
    if unknown:
        return f"unknown backend classes {unknown}"
    return None


def load_multi_turn_category(category: str, sample_size: int | None = None, seed: int = 0,
                             data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Entries ``{id, category, question, initial_config, involved_classes, function,
    missed_function, ground_truth}`` of one multi-turn category, in file order (a seeded subset
    of ``sample_size`` entries, still in file order, when given). A malformed entry is an error
    naming it: these files are the benchmark itself, not input to clean."""
    if category not in MULTI_TURN_CATEGORIES:
        raise ValueError(f"unknown BFCL multi-turn category {category!r}; expected one of "
                         f"{', '.join(MULTI_TURN_CATEGORIES)}")
    root = Path(data_dir) if data_dir is not None else bfcl_data_dir()
    path = root / FILE_TEMPLATE.format(category)
    rows = _read_lines(path)
    answers = {a.get("id"): a.get("ground_truth")
               for a in _read_lines(root / "possible_answer" / FILE_TEMPLATE.format(category))}
    entries = []
    for row in rows:
        entry = {"id": row.get("id"), "category": category, "question": copy.deepcopy(row.get("question")),
                 "initial_config": copy.deepcopy(row.get("initial_config") or {}),
                 "involved_classes": list(row.get("involved_classes") or []),
                 "ground_truth": copy.deepcopy(answers.get(row.get("id")))}
        problem = multi_turn_problem(entry)
        if problem is not None:
            raise ValueError(f"{path}: entry {entry['id']!r}: {problem}")
        functions = [doc for name in entry["involved_classes"] for doc in function_docs(name, root)]
        missed: dict[str, list[dict[str, Any]]] = {}
        for turn, names in (row.get("missed_function") or {}).items():
            missed[str(turn)] = []
            for name in names:
                index = next((i for i, doc in enumerate(functions) if doc["name"] == name), None)
                if index is not None:  # as BFCL: the document leaves the list for that turn's message
                    missed[str(turn)].append(functions.pop(index))
        entry["function"], entry["missed_function"] = functions, missed
        entries.append(entry)
    if sample_size is not None and 0 <= sample_size < len(entries):
        keep = sorted(random.Random(seed).sample(range(len(entries)), sample_size))
        entries = [entries[i] for i in keep]
    return entries
