"""Text checks of the rule layer: invalid characters and mixed language (decided by Unicode script).

Mixed language is decided per dialog from its natural-language text (user turns and assistant
answers; not thoughts, arguments or tool results, which carry names and values). Letters are
grouped into *words* by script: a run of letters of one script is one word, except for Han, Hiragana
and Katakana -- written without spaces -- where every two characters count as one word (about the
length of a Chinese word). The script with the most words is the dialog's main script; the dialog
is mixed when the share of words in other scripts exceeds the threshold. Latin-script languages
(English vs French) are not told apart: the check is about scripts, as a rule can be.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

__all__ = ["INVALID_CHARS", "foreign_share", "script_words"]

#: C0 controls but tab/newline/carriage return, DEL, C1 controls, lone surrogates, the
#: replacement character U+FFFD and the non-characters U+FFFE/U+FFFF
INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd-\uffff]")
_ASCII_WORD = re.compile(r"[A-Za-z]+")
#: scripts written without spaces between words
_UNSPACED = {"CJK"}
_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "KATAKANA-HIRAGANA": "CJK", "IDEOGRAPHIC": "CJK",
           "HALFWIDTH": "CJK", "FULLWIDTH": "LATIN"}
#: first words of letter names that name no script (ordinal indicators, styled letters)
_NOT_A_SCRIPT = {"MODIFIER", "FEMININE", "MASCULINE", "MATHEMATICAL", "SUPERSCRIPT", "SUBSCRIPT", "CIRCLED",
                 "PARENTHESIZED", "SQUARED", "NEGATIVE", "UNKNOWN"}
_script_cache: dict[str, str | None] = {}


def _script(ch: str) -> str | None:
    """Script of a letter (first word of its Unicode name, grouped); ``""`` for a combining mark
    (it continues the word), ``None`` for anything else."""
    script = _script_cache.get(ch, 0)
    if script == 0:
        script = None
        if ch.isalpha():
            first = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
            script = None if first in _NOT_A_SCRIPT else _GROUPS.get(first, first)
        elif unicodedata.category(ch).startswith("M"):
            script = ""
        _script_cache[ch] = script
    return script


def script_words(text: str) -> Counter:
    """Words per script in ``text`` (see the module docstring)."""
    if text.isascii():
        return Counter({"LATIN": len(_ASCII_WORD.findall(text))})
    words: Counter = Counter()
    run_script, run_len = None, 0
    for ch in text + " ":
        script = _script(ch)
        if script == "" and run_script is not None:  # a combining mark continues the word
            continue
        if script == run_script and script is not None:
            run_len += 1
            continue
        if run_script:
            words[run_script] += (run_len + 1) // 2 if run_script in _UNSPACED else 1
        run_script, run_len = script or None, 1
    return words


def foreign_share(texts: list[str]) -> tuple[float, str | None]:
    """``(share of words outside the main script, main script)`` over ``texts``."""
    total: Counter = Counter()
    for text in texts:
        if text.isascii():
            total["LATIN"] += len(_ASCII_WORD.findall(text))
        else:
            total.update(script_words(text))
    n = sum(total.values())
    if not n:
        return 0.0, None
    main, count = total.most_common(1)[0]
    return (n - count) / n, main
