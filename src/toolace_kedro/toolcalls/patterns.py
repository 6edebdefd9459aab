"""Strings that match a regular expression, generated from Python's own regex parser.

JSON Schema's ``pattern`` is an unanchored ``re.search``; :func:`sample_pattern` writes a string
the whole pattern matches (so ``search`` does too) by walking the tree ``re._parser`` builds:
literals, classes (ranges, ``\\d \\w \\s`` categories, negation), ``.``, greedy/lazy/possessive
repeats (an unbounded or wide one is cut to a few repeats), groups, alternation, anchors,
backreferences and conditional groups. Lookarounds are skipped, which may produce a string that
does not match: every candidate is checked with ``re.search`` (and the length bounds), a few
are tried, and a :class:`ValueError` naming the parameter and pattern is raised when none fits.
Nothing is evaluated or executed.
"""

from __future__ import annotations

import random
import re
import string
from functools import lru_cache
from typing import Any

try:  # Python >= 3.11
    import re._constants as _c
    import re._parser as _parser
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

__all__ = ["sample_pattern"]

#: how many repeats past its minimum a quantifier may take at first (grown for a minLength)
EXTRA_REPEATS = 3
#: characters a negated class or ``.`` draws from (what it excludes is removed)
_ALPHABET = string.ascii_letters + string.digits + " -_.,:/@#"
_CATEGORY_CHARS = {
    _c.CATEGORY_DIGIT: string.digits,
    _c.CATEGORY_NOT_DIGIT: string.ascii_letters + " -_.",
    _c.CATEGORY_SPACE: " ",
    _c.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits + "-_.",
    _c.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    _c.CATEGORY_NOT_WORD: " -.,:/",
    _c.CATEGORY_LINEBREAK: "\n",
    _c.CATEGORY_NOT_LINEBREAK: string.ascii_letters + string.digits + " ",
}
_UNSUPPORTED = {_c.ASSERT, _c.ASSERT_NOT}


@lru_cache(maxsize=4096)
def _parse(pattern: str) -> tuple[Any, bool]:
    """Parsed pattern and whether it uses something the generator skips (lookarounds)."""
    parsed = _parser.parse(pattern)
    return parsed, _uses_unsupported(parsed)


def _uses_unsupported(items: Any) -> bool:
    for op, av in items:
        if op in _UNSUPPORTED:
            return True
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)) and _uses_unsupported(av[2]):
            return True
        if op == _c.SUBPATTERN and _uses_unsupported(av[-1]):
            return True
        if op == _c.BRANCH and any(_uses_unsupported(b) for b in av[1]):
            return True
        if op == getattr(_c, "ATOMIC_GROUP", None) and _uses_unsupported(av):
            return True
        if op == _c.GROUPREF_EXISTS and (_uses_unsupported(av[1]) or (av[2] and _uses_unsupported(av[2]))):
            return True
    return False


def sample_pattern(pattern: str, rng: random.Random, *, name: str = "", min_length: int = 0,
                   max_length: int | None = None, attempts: int = 12) -> str:
    """A string ``re.search(pattern, s)`` accepts, with ``min_length <= len(s) <= max_length``.

    Raises :class:`ValueError` (naming ``name`` and the pattern) when the pattern does not compile
    or no candidate of ``attempts`` fits -- callers fall back on something else."""
    try:
        parsed, _ = _parse(pattern)
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"parameter {name!r}: pattern {pattern!r} does not compile ({exc})") from exc
    extra = EXTRA_REPEATS
    for _ in range(attempts):
        groups: dict[int, str] = {}
        try:
            text = _emit(parsed, rng, groups, extra)
        except _Unsatisfiable:
            continue
        if len(text) < min_length:  # let the repeats grow (or shrink) towards the length bounds
            extra = max(2 * extra, min_length)
        elif max_length is not None and len(text) > max_length:
            extra //= 2
        elif compiled.search(text):
            return text
    why = "uses lookarounds, which the generator skips" if _parse(pattern)[1] else "no candidate fits"
    bounds = f" within length {min_length}..{max_length}" if min_length or max_length is not None else ""
    raise ValueError(f"parameter {name!r}: cannot generate a string for pattern {pattern!r}{bounds} ({why})")


class _Unsatisfiable(Exception):
    """A class that admits no character of the alphabet, or a backreference to an unset group."""


def _emit(items: Any, rng: random.Random, groups: dict[int, str], extra: int) -> str:
    out: list[str] = []
    for op, av in items:
        if op == _c.LITERAL:
            out.append(chr(av))
        elif op == _c.NOT_LITERAL:
            out.append(_pick(rng, [c for c in _ALPHABET if ord(c) != av]))
        elif op == _c.ANY:
            out.append(rng.choice(string.ascii_letters + string.digits))
        elif op == _c.IN:
            out.append(_class_char(av, rng))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op == getattr(_c, "POSSESSIVE_REPEAT", None):
            low, high, sub = av
            count = rng.randint(low, min(high, low + extra))
            out.extend(_emit(sub, rng, groups, extra) for _ in range(count))
        elif op == _c.SUBPATTERN:
            group, sub = av[0], av[-1]
            text = _emit(sub, rng, groups, extra)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif op == getattr(_c, "ATOMIC_GROUP", None):
            out.append(_emit(av, rng, groups, extra))
        elif op == _c.BRANCH:
            out.append(_emit(rng.choice(av[1]), rng, groups, extra))
        elif op == _c.GROUPREF:
            if av not in groups:
                raise _Unsatisfiable
            out.append(groups[av])
        elif op == _c.GROUPREF_EXISTS:
            group, yes, no = av
            branch = yes if group in groups else no
            out.append(_emit(branch, rng, groups, extra) if branch else "")
        # AT (anchors, \b), ASSERT/ASSERT_NOT (lookarounds): nothing to write
    return "".join(out)


def _class_char(items: list, rng: random.Random) -> str:
    if items and items[0][0] == _c.NEGATE:
        allowed = [ch for ch in _ALPHABET if not _in_class(ch, items[1:])]
        return _pick(rng, allowed)
    # each member weighs as many characters as it admits: [A-Z.] rarely gives "."
    weights = [av[1] - av[0] + 1 if op == _c.RANGE else max(1, len(_CATEGORY_CHARS.get(av, ""))) if op == _c.CATEGORY else 1
               for op, av in items]
    op, av = rng.choices(items, weights)[0]
    if op == _c.LITERAL:
        return chr(av)
    if op == _c.RANGE:
        low, high = av
        return chr(rng.randint(low, high))
    if op == _c.CATEGORY:
        return rng.choice(_CATEGORY_CHARS.get(av, string.ascii_letters))
    if op == _c.NOT_LITERAL:  # only inside a negated class in practice
        return _pick(rng, [c for c in _ALPHABET if ord(c) != av])
    raise _Unsatisfiable


def _in_class(ch: str, items: list) -> bool:
    code = ord(ch)
    for op, av in items:
        if op == _c.LITERAL and code == av:
            return True
        if op == _c.RANGE and av[0] <= code <= av[1]:
            return True
        if op == _c.CATEGORY and _category_has(av, ch):
            return True
    return False


def _category_has(category: Any, ch: str) -> bool:
    checks = {
        _c.CATEGORY_DIGIT: ch.isdigit(), _c.CATEGORY_NOT_DIGIT: not ch.isdigit(),
        _c.CATEGORY_SPACE: ch.isspace(), _c.CATEGORY_NOT_SPACE: not ch.isspace(),
        _c.CATEGORY_WORD: ch.isalnum() or ch == "_", _c.CATEGORY_NOT_WORD: not (ch.isalnum() or ch == "_"),
        _c.CATEGORY_LINEBREAK: ch == "\n", _c.CATEGORY_NOT_LINEBREAK: ch != "\n",
    }
    return checks.get(category, False)


def _pick(rng: random.Random, chars: list[str] | str) -> str:
    if not chars:
        raise _Unsatisfiable
    return rng.choice(chars)
