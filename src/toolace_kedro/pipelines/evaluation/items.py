"""The BFCL items every policy answers: how many per category (seeded) and the prompt they see.

* **Sample sizes** (``evaluation.bfcl.sample_size``): an int (every category), null (every item)
  or a mapping ``{<category>: n | null, ..., default: n | null}``. A category's subset depends
  only on the seed, the category and n, and a smaller n keeps a prefix of the same seeded order,
  so 20 items are among the 40 of a larger run (and their cached answers are reused).
* **Prompt** (``evaluation.prompt``): ``bfcl`` -- BFCL's own default prompt-mode system prompt
  (:mod:`toolace_kedro.toolcalls.bfcl_prompt`: the wheel's templates, the functions as indented
  JSON with BFCL's Python hint), what published prompt-mode scores are measured with; ``training``
  -- the format the sft stage trains on (:func:`toolace_kedro.toolcalls.system_prompt`: BFCL's
  ``dict`` dialect, calls asked for as ``[func(a=1)]``). ``format_sensitivity`` items are always
  asked with BFCL's prompt in the format their id names (``training`` cannot ask them).
* **format_sensitivity subsets** are drawn by source entry: the seeded order takes every format
  of one entry before the next entry, so that n items are n // 26 whole entries (plus some formats
  of one more) and the per-format accuracies compare the same entries.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from toolace_kedro.datasets.bfcl_data import (
    FORMAT_SENSITIVITY,
    LANGUAGE_OF,
    SINGLE_TURN_CATEGORIES,
    parse_format_sensitivity_id,
)
from toolace_kedro.toolcalls import system_prompt
from toolace_kedro.toolcalls.bfcl_prompt import bfcl_messages as bfcl_prompt_messages
from toolace_kedro.toolcalls.bfcl_prompt import (
    default_prompt_format,
    with_language_hint,
)

__all__ = ["PROMPTS", "bfcl_messages", "prompt_description", "sample_sizes", "seeded_subset"]

#: the prompts a BFCL item can be asked with
PROMPTS = ("bfcl", "training")


def _size(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer or null (every item), got {value!r}")
    return value


def sample_sizes(sample_size: Any, categories: Sequence[str], known: Sequence[str] = SINGLE_TURN_CATEGORIES,
                 key: str = "evaluation.bfcl.sample_size") -> dict[str, int | None]:
    """Items per category (``None``: every item) from ``evaluation.bfcl.sample_size`` (or
    ``evaluation.multi_turn.sample_size``, whose categories are ``known``); a bad value is a
    ``ValueError`` naming ``key``. Mapping keys must be ``known`` categories or ``default``;
    categories of the mapping that are not run are ignored; a category run without an entry
    takes ``default``, and with no ``default`` either is an error."""
    if not isinstance(sample_size, Mapping):
        size = _size(sample_size, key)
        return {c: size for c in categories}
    unknown = sorted(str(k) for k in sample_size if k != "default" and k not in known)
    if unknown:
        raise ValueError(f"{key}.{unknown[0]}: not a BFCL category nor 'default' "
                         f"(categories: {', '.join(known)})")
    sizes = {k: _size(v, f"{key}.{k}") for k, v in sample_size.items()}
    missing = [c for c in categories if c not in sizes and "default" not in sizes]
    if missing:
        raise ValueError(f"{key}.{missing[0]}: no size for this category and no '{key}.default'")
    return {c: sizes[c] if c in sizes else sizes["default"] for c in categories}


def seeded_subset(entries: Sequence[dict], size: int | None, seed: int, category: str) -> list[dict]:
    """``size`` entries in file order, the first ``size`` of a shuffle seeded by ``seed`` and the
    category (all of them for ``None`` or a size at least their number). ``format_sensitivity``
    shuffles its source entries and takes their items format by format (see the module docstring)."""
    if size is None or size >= len(entries):
        return list(entries)
    rng = random.Random(f"{seed}:{category}")
    if category == FORMAT_SENSITIVITY:
        groups: dict[Any, list[int]] = {}
        for i, entry in enumerate(entries):
            groups.setdefault(entry.get("source_id", entry.get("id")), []).append(i)
        shuffled = list(groups.values())
        rng.shuffle(shuffled)
        order = [i for group in shuffled for i in group]
    else:
        order = list(range(len(entries)))
        rng.shuffle(order)
    return [entries[i] for i in sorted(order[:size])]


def bfcl_messages(entry: Mapping[str, Any], prompt: str = "bfcl") -> list[dict[str, str]]:
    """The chat messages a policy sees for a BFCL entry's first turn under ``prompt``.

    ``bfcl``: exactly what BFCL sends a prompt-mode model (its system prompt with the functions
    and the hint of the entry's language -- Java and JavaScript parameters asked for as strings of
    source code; a system message of the entry follows after a blank line). ``training``: the
    functions (Java/JavaScript ones rewritten as for ``bfcl``) in the sft stage's system prompt (a
    system message of the entry appended after a newline), then the turn's other messages.
    A ``format_sensitivity`` entry is asked only under ``bfcl``, in the format its id names."""
    turn = entry["question"][0] if entry["question"] else []
    language = LANGUAGE_OF.get(entry.get("category"), "python")
    if entry.get("category") == FORMAT_SENSITIVITY:
        if prompt != "bfcl":
            raise ValueError(f"format_sensitivity items are asked with BFCL's prompt in their own format, "
                             f"not evaluation.prompt {prompt!r}")
        # BFCL's loader appends the Python hint twice: once reading the source category, once more
        # reading format_sensitivity; the format is the one the id names
        return bfcl_prompt_messages(turn, with_language_hint(entry["function"]),
                                    prompt_format=parse_format_sensitivity_id(entry["id"])[0], language="python")
    if prompt == "bfcl":
        return bfcl_prompt_messages(turn, entry["function"], prompt_format=None, language=language)
    if prompt != "training":
        raise ValueError(f"evaluation.prompt must be one of {PROMPTS}, got {prompt!r}")
    functions = entry["function"] if language == "python" else with_language_hint(entry["function"], language)
    system = system_prompt(functions, "python")
    extra = [m["content"] for m in turn if m.get("role") == "system"]
    if extra:
        system += "\n" + "\n".join(extra)
    return [{"role": "system", "content": system}] + [
        {"role": m["role"], "content": m["content"]} for m in turn if m.get("role") != "system"]


def prompt_description(prompt: str) -> str:
    """One line naming the prompt, for the report (BFCL's format string for ``bfcl``)."""
    if prompt == "bfcl":
        return f"BFCL's default prompt-mode system prompt (`{default_prompt_format()}`)"
    if prompt == "training":
        return "the sft stage's training prompt (`toolcalls.system_prompt`, calls as `[func(a=1)]`)"
    raise ValueError(f"evaluation.prompt must be one of {PROMPTS}, got {prompt!r}")
