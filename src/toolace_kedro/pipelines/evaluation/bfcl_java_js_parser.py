"""A small recursive-descent parser for the subset of Java and JavaScript that
:mod:`~toolace_kedro.pipelines.evaluation.bfcl_java_js` decodes: statements of literals, names,
member/field access, indexing, calls, unary and binary operators, parentheses, ``new``, Java
lambdas with an expression body, and JavaScript array and object literals. It builds nodes with
source spans and never evaluates anything; whatever lies outside the subset is a
:class:`DecodeError`. The places where tree-sitter repairs a missing token instead of reporting
an error are reproduced by its costs (see :meth:`_Parser.java_statement`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["JAVA", "JAVASCRIPT", "JS_NOT_IDENTIFIER", "LANGUAGES", "DecodeError", "Node", "parse_program"]


JAVA, JAVASCRIPT = "java", "javascript"
LANGUAGES = (JAVA, JAVASCRIPT)
_MAX_DEPTH = 200
#: tree-sitter skips a lone Java call as an error instead of inserting ``;`` up to this cost
_SKIP_COST = 10
_NEWLINE_COST = 30

_SPACE = re.compile(r"[ \t\r\n\f]+")
_NAME = re.compile(r"(?:[^\W\d]|\$)(?:\w|\$)*")
_NUMBER = {
    JAVA: re.compile(r"0[xX][0-9a-fA-F_]+[lL]?|0[bB][01_]+[lL]?|"
                     r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[fFdDlL]?"),
    JAVASCRIPT: re.compile(r"0[xX][0-9a-fA-F_]+n?|0[bBoO][0-7_]+n?|"
                           r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?n?"),
}
_QUOTED = {
    JAVA: re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)+\''),
    JAVASCRIPT: re.compile(r'"(?:[^"\\\n]|\\.|\\\n)*"|\'(?:[^\'\\\n]|\\.|\\\n)*\'|`[^`$\\]*`'),
}
_OPERATORS = {
    JAVA: ("->", "&&", "||", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "!", "~", "&", "|", "^",
           "?", ":", "=", "(", ")", "[", "]", "{", "}", ",", ";", "."),
    JAVASCRIPT: ("===", "!==", "**", "&&", "||", "??", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">",
                 "!", "~", "&", "|", "^", "?", ":", "=", "(", ")", "[", "]", "{", "}", ",", ";", "."),
}
_COMMON_BINARY = frozenset({"&&", "||", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^"})
_BINARY = {JAVA: _COMMON_BINARY, JAVASCRIPT: _COMMON_BINARY | {"===", "!==", "**", "??", "in", "instanceof"}}
_UNARY = {JAVA: frozenset("-+!~"), JAVASCRIPT: frozenset("-+!~") | {"typeof", "void", "delete"}}
#: JavaScript words that tree-sitter does not type ``identifier`` (only identifiers and ``true`` are kept)
JS_NOT_IDENTIFIER = frozenset({"false", "null", "undefined", "this", "super", "typeof", "void", "delete", "in",
                                "instanceof", "new"})
_JS_RESERVED = frozenset({"break", "case", "catch", "class", "const", "continue", "debugger", "default", "do",
                          "else", "export", "extends", "finally", "for", "function", "if", "import", "let",
                          "return", "switch", "throw", "try", "var", "while", "with", "yield", "async", "await"})
#: Java words that are no expression (tree-sitter reads other keywords in a value as names)
_JAVA_RESERVED = frozenset({"new"})
_PRIMITIVES = frozenset({"int", "long", "short", "byte", "char", "float", "double", "boolean"})


class DecodeError(ValueError):
    """The answer is not a call under BFCL's Java/JavaScript decoding."""


@dataclass
class _Token:
    kind: str  # name, number, quoted, op
    text: str
    start: int
    end: int
    newline_before: bool


@dataclass
class Node:
    kind: str
    start: int
    end: int
    children: list[Any] = field(default_factory=list)
    text: str = ""  # leaf text, operator, or field name
    body: list[Any] = field(default_factory=list)  # statements of a Java anonymous class body


def _tokens(source: str, language: str) -> list[_Token]:
    out: list[_Token] = []
    pos, newline = 0, False
    operators = _OPERATORS[language]
    while pos < len(source):
        space = _SPACE.match(source, pos)
        if space:
            newline = newline or "\n" in space.group()
            pos = space.end()
            continue
        if source.startswith(("//", "/*"), pos):
            raise DecodeError("comments are not decoded")
        for kind, pattern in (("number", _NUMBER[language]), ("name", _NAME), ("quoted", _QUOTED[language])):
            match = pattern.match(source, pos)
            if match and match.end() > pos:
                break
        else:
            op = next((o for o in operators if source.startswith(o, pos)), None)
            if op is None:
                raise DecodeError(f"unexpected character {source[pos]!r} at {pos}")
            kind, match = "op", re.compile(re.escape(op)).match(source, pos)
        out.append(_Token(kind, match.group(), pos, match.end(), newline))
        pos, newline = match.end(), False
    return out


class _Parser:
    """A recursive-descent parser for the subset of Java or JavaScript expressions decoded here."""

    def __init__(self, source: str, language: str) -> None:
        self.source, self.language = source, language
        self.toks = _tokens(source, language)
        self.i, self.depth = 0, 0

    # ---- helpers
    def peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.text in texts and tok.kind in ("op", "name")

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        tok = self.peek()
        if tok is None or (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            where = "the end" if tok is None else repr(tok.text)
            raise DecodeError(f"expected {text or kind} at {where}")
        self.i += 1
        return tok

    def node(self, kind: str, start: int, children: list | None = None, text: str = "") -> Node:
        return Node(kind, start, self.toks[self.i - 1].end, children or [], text)

    # ---- expressions
    def expression(self) -> Node:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise DecodeError("expression nested too deeply")
        try:
            left = self.conditional()
            if self.at("="):
                if left.kind not in ("name", "field", "index"):
                    raise DecodeError("assignment to something that is not a name")
                self.take("=")
                left = self.node("assign", left.start, [left, self.expression()])
            return left
        finally:
            self.depth -= 1

    def conditional(self) -> Node:
        test = self.binary()
        if not self.at("?"):
            return test
        self.take("?")
        then = self.expression()
        self.take(":")
        return self.node("cond", test.start, [test, then, self.expression()])

    def binary(self) -> Node:
        parts = [self.unary()]
        while self.peek() is not None and self.peek().text in _BINARY[self.language] and (
                self.peek().kind == "op" or self.peek().text in ("in", "instanceof")):
            if self.language == JAVA and self.peek().text == "instanceof":
                raise DecodeError("instanceof is not decoded")
            parts += [self.take().text, self.unary()]
        return parts[0] if len(parts) == 1 else self.node("binary", parts[0].start, parts)

    def unary(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.text in _UNARY[self.language] and tok.kind in ("op", "name"):
            self.take()
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise DecodeError("expression nested too deeply")
            try:
                return self.node("unary", tok.start, [self.unary()], tok.text)
            finally:
                self.depth -= 1
        return self.postfix(self.primary())

    def arguments(self) -> list[Node]:
        self.take("(")
        args: list[Node] = []
        while not self.at(")"):
            args.append(self.expression())
            if not self.at(")"):
                self.take(",")
                if self.at(")") and self.language == JAVA:
                    raise DecodeError("a trailing comma in Java arguments")
        self.take(")")
        return args

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take(".")
                name = self.take(kind="name")
                if self.language == JAVA and self.at("("):
                    node = self.node("call", node.start, [node, self.arguments()], name.text)
                else:
                    node = self.node("field", node.start, [node], name.text)
            elif self.at("["):
                self.take("[")
                index = self.expression()
                self.take("]")
                node = self.node("index", node.start, [node, index])
            elif self.at("(") and self.language == JAVASCRIPT:
                node = self.node("call", node.start, [node, self.arguments()])
            else:
                return node

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise DecodeError("an expression is missing at the end")
        if tok.kind in ("number", "quoted"):
            self.take()
            return self.node("literal", tok.start, text=tok.text)
        if tok.text == "(" and self.language == JAVA and self._lambda_parameters():
            self.take("(")
            params = [self.take(kind="name")] if not self.at(")") else []
            while self.at(","):
                self.take(",")
                params.append(self.take(kind="name"))
            self.take(")")
            return self.lambda_(tok.start, params, parenthesised=True)
        if tok.text == "(":
            self.take("(")
            inner = self.sequence() if self.language == JAVASCRIPT else self.expression()
            self.take(")")
            return self.node("paren", tok.start, [inner])
        if tok.text == "new":
            return self.creation()
        if self.language == JAVASCRIPT and tok.text in ("[", "{"):
            return self.array() if tok.text == "[" else self.obj()
        if tok.kind != "name" or tok.text in (_JAVA_RESERVED if self.language == JAVA else _JS_RESERVED):
            raise DecodeError(f"{tok.text!r} does not start a decoded expression")
        if self.language == JAVA and self.peek(1) is not None and self.peek(1).text == "->":
            return self.lambda_(tok.start, [self.take()])
        self.take()
        if self.language == JAVA and tok.text in _PRIMITIVES:
            raise DecodeError(f"the type {tok.text!r} is not a value")
        if self.language == JAVA and self.at("("):
            return self.node("call", tok.start, [None, self.arguments()], tok.text)
        return self.node("name", tok.start, text=tok.text)

    def _lambda_parameters(self) -> bool:
        """Whether ``(`` opens the parameter list of a Java lambda: ``(a, b) ->``."""
        j = self.i + 1
        while j < len(self.toks) and (self.toks[j].kind == "name" or self.toks[j].text == ","):
            j += 1
        return j + 1 < len(self.toks) and self.toks[j].text == ")" and self.toks[j + 1].text == "->"

    def lambda_(self, start: int, params: list[_Token], parenthesised: bool = False) -> Node:
        self.take("->")
        if self.at("{"):
            raise DecodeError("a lambda with a block body is not decoded")
        text = ",".join(p.text for p in params)
        return self.node("lambda", start, [self.expression()], f"({text})" if parenthesised else text)

    def sequence(self) -> Node:
        first = self.expression()
        items = [first]
        while self.at(","):
            self.take(",")
            items.append(self.expression())
        return first if len(items) == 1 else self.node("sequence", first.start, items)

    def type_text(self) -> str:
        """A type after ``new``: dotted names and type arguments, tokens joined without spaces."""
        parts = [self.take(kind="name").text]
        while self.at("."):
            parts += [self.take(".").text, self.take(kind="name").text]
        if self.language == JAVA and self.at("<"):
            parts.append(self.take("<").text)
            while not self.at(">"):
                parts.append(self.type_text())
                if not self.at(">"):
                    parts.append(self.take(",").text)
            parts.append(self.take(">").text)
        return "".join(parts)

    def creation(self) -> Node:
        start = self.take("new").start
        type_text = self.type_text()
        if self.language == JAVASCRIPT:
            args = self.arguments() if self.at("(") else []
            return self.node("new", start, args, type_text)
        if self.at("["):
            self.take("[")
            self.take("]")
            while self.at("["):
                self.take("[")
                self.take("]")
            if not self.at("{"):
                raise DecodeError("an array creation without its initialiser")
            return self.node("new_array", start, [self.initialiser()], type_text)
        if type_text in _PRIMITIVES:
            raise DecodeError(f"new {type_text} needs []")
        args = self.arguments()
        body = self.class_body() if self.at("{") else []
        node = self.node("new_object", start, args, type_text)
        node.body = body
        return node

    def initialiser(self) -> Node:
        start = self.take("{").start
        items, trailing = [], False
        while not self.at("}"):
            items.append(self.initialiser() if self.at("{") else self.expression())
            trailing = False
            if not self.at("}"):
                self.take(",")
                trailing = True
        self.take("}")
        return self.node("init", start, items, "," if trailing else "")

    def class_body(self) -> list[Node]:
        """An anonymous class body of instance initialisers holding expression statements (its
        text is dropped; its calls are still searched for the first one)."""
        self.take("{")
        statements = []
        while not self.at("}"):
            self.take("{")
            while not self.at("}"):
                if self.at(";"):
                    self.take(";")
                    continue
                statements.append(self.expression())
                self.take(";")
            self.take("}")
        self.take("}")
        return statements

    def array(self) -> Node:
        start = self.take("[").start
        items = []
        while not self.at("]"):
            if self.at(","):
                self.take(",")
                continue
            items.append(self.expression())
            if not self.at("]"):
                self.take(",")
        self.take("]")
        return self.node("array", start, items)

    def obj(self) -> Node:
        start = self.take("{").start
        while not self.at("}"):
            key = self.take()
            if key.kind == "op" and key.text == "[":
                self.expression()
                self.take("]")
            elif key.kind not in ("name", "quoted", "number") or key.text.startswith("`"):
                raise DecodeError(f"{key.text!r} is not a property name")
            if self.at(":"):
                self.take(":")
                self.expression()
            elif key.kind != "name" or key.text in _JS_RESERVED:
                raise DecodeError(f"property {key.text!r} without a value")
            if not self.at("}"):
                self.take(",")
        self.take("}")
        return self.node("object", start)

    # ---- programs
    def program(self) -> list[Node]:
        statements: list[Node] = []
        while self.peek() is not None:
            if self.at(";"):
                self.take(";")
                continue
            if self.language == JAVASCRIPT:
                statements.append(self.sequence())  # a leading "{" reads as an object literal, as tree-sitter's does
                if not self.at(";") and self.peek() is not None and not self.peek().newline_before:
                    raise DecodeError(f"unexpected {self.peek().text!r} after a statement")
            else:
                statements.append(self.java_statement(first=not statements))
        return statements

    def java_statement(self, first: bool) -> Node:
        """A Java block or expression statement. tree-sitter repairs a missing ``;`` (and a
        missing array before a leading ``[``) unless skipping the text is cheaper: a first
        statement of at most ten characters, or a following statement that starts ``name.``
        with a name of at most nine."""
        start = self.peek().start
        if self.at("{"):
            self.take("{")
            inner = []
            while not self.at("}"):
                if self.at(";"):
                    self.take(";")
                    continue
                inner.append(self.java_statement(first=False))
            self.take("}")
            return self.node("block", start, inner)
        if self.at("["):
            self.take("[")
            index = self.expression()
            self.take("]")
            statement = self.postfix(self.node("index", start, [None, index]))
        else:
            statement = self.expression()
        if self.at(";") or self.at("}"):
            return statement
        if statement.kind == "field" and _dotted_name(statement):
            raise DecodeError("a dotted name without ';' (tree-sitter reads a type there)")
        if first and _skip_cost(self.source, statement) <= _SKIP_COST:
            raise DecodeError("a short Java statement without ';' (tree-sitter skips it as an error)")
        following = self.peek()
        if following is not None and following.kind == "name" and len(following.text) < _SKIP_COST and (
                self.peek(1) is not None and self.peek(1).text == "."):
            raise DecodeError("Java statements without ';' between them (tree-sitter skips the name as an error)")
        return statement


def _dotted_name(node: Node) -> bool:
    return node.kind == "name" or (node.kind == "field" and _dotted_name(node.children[0]))


def _skip_cost(source: str, node: Node) -> int:
    text = source[node.start:node.end]
    return len(text) + _NEWLINE_COST * text.count("\n")


def parse_program(source: str, language: str) -> list[Node]:
    """The statements of ``source`` (a :class:`DecodeError` where BFCL's tree-sitter parse fails)."""
    return _Parser(source, language).program()
