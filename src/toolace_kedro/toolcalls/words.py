"""Content words of request and API texts: what the relevance measures compare (verification's
data-quality flags) and what a dialog's request must mention (dialog generation's request grammar).

Words are lowercased ``[a-z]+`` runs of three letters or more (``_`` and ``.`` split them), stop
words removed, with a crude plural strip (``flights`` ~ ``flight``).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["api_words", "content_words"]

_WORD = re.compile(r"[a-z]{3,}")
_STOP = frozenset("""the and for with from that this what which when where who how can you your please
are was were will would could should have has had not but all any get set into about there their them they
then than also just some more most very out our its it's let me my need want like give tell find show""".split())


def content_words(text: str) -> set[str]:
    """Lowercased words of three letters or more, stop words out, a trailing ``s`` dropped."""
    words = set()
    for word in _WORD.findall(text.lower().replace("_", " ").replace(".", " ")):
        if word in _STOP:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return words


def api_words(api: dict[str, Any], parameters: bool = True) -> set[str]:
    """The content words of an API's name, description and (with ``parameters``) parameter names."""
    params = list(((api.get("parameters") or {}).get("properties") or {})) if parameters else []
    return content_words(" ".join([str(api.get("name", "")).replace(".", " "), str(api.get("description", "")),
                                   *params]))
