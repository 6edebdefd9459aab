"""Whether a partial model answer can still become a list of Python calls in BFCL's prompt mode.

BFCL decodes a prompt-mode answer by stripping backticks, newlines and spaces from both ends,
adding a missing ``[`` / ``]`` and parsing the text as one Python expression whose elements must
all be calls. Most answers of an untrained small model are prose ("To calculate the factorial
...") that no continuation can turn into such an expression: once that is certain, the rest of the
answer cannot change BFCL's verdict (no call), and generating it only costs time.

:func:`never_python_calls` says so from Python's tokens of the text seen so far, conservatively
(``False`` whenever in doubt). It is ``True`` only on evidence that every completion is a
``SyntaxError`` -- tokens fixed by the text already written (each is followed by another
character, so no continuation can extend it):

* two names in a row (``To calculate``), neither a keyword -- expressions never juxtapose names;
* a name followed by a quote (``Here's``, ``I'm``) when the name is no string prefix
  (``r``, ``b``, ``f``, ``u`` and their pairs) -- a name and a string never stand side by side,
  and an unclosed quote is an error of its own;
* a keyword that only begins statements (``def``, ``class``, ``import``, ``return``, ...);
* a character that Python allows only inside strings and comments (``$``, ``?``, full-width
  punctuation, a backtick with more than backticks, newlines and spaces after it, ...).

Everything after the first unclosed quote is left alone (the tokenizer would read string content
as code). Evidence stays evidence as the text grows (the tokens before the end do not change), so
a text is "never calls" from the first token that shows it on.
"""

from __future__ import annotations

import io
import keyword
import re
import tokenize

from toolace_kedro.toolcalls.parsing import CALL_NAME

__all__ = ["STATEMENT_KEYWORDS", "never_python_calls", "never_tool_calls"]

#: keywords that cannot occur inside an expression (parsed in ``eval`` mode)
STATEMENT_KEYWORDS = frozenset({"as", "assert", "break", "class", "continue", "def", "del", "elif", "except",
                                "finally", "global", "import", "nonlocal", "pass", "raise", "return", "try",
                                "while", "with"})
_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
_STRING_PREFIXES = frozenset({"r", "u", "f", "b", "br", "rb", "fr", "rf"})
_QUOTES = ("'", '"')
_SKIPPED = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT})


def _plain_name(token: tokenize.TokenInfo) -> bool:
    return token.type == tokenize.NAME and token.string not in _KEYWORDS


def never_python_calls(text: str) -> bool:
    """True when no text that starts with ``text`` decodes to Python calls under BFCL's
    prompt-mode rules (see the module docstring); False when it still may."""
    source = text.lstrip("`\n ")
    if not source:
        return False
    if not source.startswith("["):
        source = "[" + source
    lines = source.splitlines(keepends=True)

    def followed(token: tokenize.TokenInfo) -> bool:
        """Another character follows the token in the text: no continuation extends it."""
        row, col = token.end
        return col < len(lines[row - 1]) or row < len(lines)

    def quote_follows(token: tokenize.TokenInfo) -> bool:
        """The next character after the token, blanks and newlines skipped, opens a string."""
        row, col = token.end
        rest = "".join([lines[row - 1][col:], *lines[row:]]).lstrip(" \t\r\n")
        return rest[:1] in _QUOTES

    previous = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _SKIPPED or (token.type == tokenize.ERRORTOKEN and token.string.isspace()):
                continue  # (the pure-Python tokenizer reports the blank before an invalid character)
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                return False
            if token.type == tokenize.NAME and followed(token):
                if token.string in STATEMENT_KEYWORDS:
                    return True
                if _plain_name(token):
                    if previous is not None and _plain_name(previous):
                        return True  # two names in a row (the previous one is followed by this one)
                    if token.string.lower() not in _STRING_PREFIXES and quote_follows(token):
                        return True  # a name, then a string (closed or not)
            if token.type == tokenize.ERRORTOKEN:
                char = token.string[:1]
                if char in _QUOTES:  # an unclosed quote: what follows is string content
                    return False
                if char == "`":  # BFCL strips trailing backticks: evidence only before other text
                    row, col = token.end
                    return bool("".join([lines[row - 1][col:], *lines[row:]]).strip("`\n "))
                return bool(char) and char not in ("!", "\\")
            previous = token
    except (tokenize.TokenError, SyntaxError):  # an unclosed triple quote or bracket at the end
        return False
    return False


_JSON_OPENING = re.compile(r"\[\s*(\{|\Z)")


def never_tool_calls(text: str) -> bool:
    """True when no text that starts with ``text`` is read as calls by the project's
    ``parse_calls`` (the decoder of the held-out synthetic answers); False when it still may.

    ``parse_calls`` reads a fenced block, JSON (an object, or ``[`` then ``{``) or the call form
    ``[name(...), ...]`` whose names may hold spaces. Only the call form's first name is judged:
    once the name is followed by a character that is neither a name character nor ``(``
    (``I'm``, ``Sure!``, ``To do that, ...``), or the answer opens with a character no name starts
    with, every continuation fails. A leading backtick, ``{``, ``[{``, ``[]`` or a name still
    open is left alone (``False``)."""
    body = text.lstrip()
    if not body or body[0] in "`{":
        return False
    if body[0] == "[":
        if _JSON_OPENING.match(body):
            return False
        body = body[1:].lstrip()
        if not body or body[0] == "]":
            return False
    match = CALL_NAME.match(body)  # the reader's own call-name pattern
    if match is None:
        return True
    return match.end() < len(body) and body[match.end()] != "("
