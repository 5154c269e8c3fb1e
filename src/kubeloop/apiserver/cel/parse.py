"""A CEL parser that gives the syntax tree our CEL library (``common-expression-language``) keeps to
itself: the type checker (``checker``) and the cost estimator (``cost``) walk it.

It mirrors cel-go's parser where the checker depends on it: node positions (a select at its ``.``, a
member call at its ``(``, an operator at its token), ``-`` folded into numeric literals, and macros
expanded into comprehensions as cel-go expands them (``all``, ``exists``, ``exists_one``, ``map``,
``filter``, ``has``). Syntax errors are not its business: the library reports them first, in cel-go's
words; anything this parser does not read raises ``Unsupported`` and the rule is then left unchecked,
so a gap here can only let a rule through, never refuse one the real server accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ACCU", "Node", "Uint", "Unsupported", "parse"]

ACCU = "@result"


class Unsupported(Exception):
    """A construct the parser does not read (the rule is then not type-checked)."""


@dataclass(eq=False)
class Node:
    """One expression: ``kind`` is literal, ident, select, call, list, map, struct or comprehension.

    ``value``: a literal's value, an ident's or a call's name, a select's field; ``target``: a select's
    operand or a member call's receiver; ``args``: call arguments, list items, map keys and values
    alternately; comprehensions use ``var``, ``accu``, ``range``, ``init``, ``cond``, ``step``,
    ``result``. ``test_only`` marks a ``has()`` select; ``macro`` names the macro a node came from.
    """

    kind: str
    offset: int
    value: Any = None
    target: Node | None = None
    args: list[Node] = field(default_factory=list)
    test_only: bool = False
    macro: str = ""
    var: str = ""
    accu: str = ""
    range: Node | None = None
    init: Node | None = None
    cond: Node | None = None
    step: Node | None = None
    result: Node | None = None

    def loop(self) -> tuple[Node, Node, Node, Node, Node]:
        """A comprehension's range, accumulator init, loop condition, step and result."""
        over, init, cond, step, result = self.range, self.init, self.cond, self.step, self.result
        if over is None or init is None or cond is None or step is None or result is None:
            raise ValueError(f"not a comprehension: {self.kind}")
        return over, init, cond, step, result


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f]+|//[^\n]*)
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?
      |[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|\.[0-9]+(?:[eE][+-]?[0-9]+)?
      |[0-9]+[uU]?)
  | (?P<string>[rRbB]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<ident>[_a-zA-Z][_a-zA-Z0-9]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|\.\?|\[\?|[-+*/%!<>?:.,()\[\]{}])
    """,
    re.VERBOSE,
)

_RELATIONS = {"<": "_<_", "<=": "_<=_", ">": "_>_", ">=": "_>=_", "==": "_==_", "!=": "_!=_", "in": "@in"}
_ADDITIONS = {"+": "_+_", "-": "_-_"}
_MULTIPLICATIONS = {"*": "_*_", "/": "_/_", "%": "_%_"}
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ESCAPES |= {"\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise Unsupported(f"unexpected character at {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append((kind, match.group(), pos))
        pos = match.end()
    out.append(("end", "", len(text)))
    return out


def _unquote(token: str) -> str | bytes:
    prefix = re.match(r"[rRbB]*", token)
    flags = prefix.group().lower() if prefix else ""
    body = token[len(flags) :]
    quote = 3 if body[:3] in ("'''", '"""') else 1
    inner = body[quote:-quote]
    if "r" not in flags:
        inner = re.sub(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", _escape, inner)
    return inner.encode() if "b" in flags else inner


def _escape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code in _ESCAPES:
        return _ESCAPES[code]
    if code[0] in "xuU":
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    raise Unsupported(f"escape \\{code}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, ahead: int = 0) -> tuple[str, str, int]:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise Unsupported(f"expected {value!r} at {token[2]}")
        self.at += 1
        return token

    def accept(self, value: str) -> tuple[str, str, int] | None:
        token = self.peek()
        if token[0] in ("op", "ident") and token[1] == value:
            self.at += 1
            return token
        return None

    def expr(self) -> Node:
        cond = self.binary(0)
        question = self.accept("?")
        if question is None:
            return cond
        yes = self.binary(0)
        self.take(":")
        no = self.expr()
        return Node("call", question[2], "_?_:_", args=[cond, yes, no])

    _LEVELS: tuple[dict[str, str], ...] = (
        {"||": "_||_"},
        {"&&": "_&&_"},
        _RELATIONS,
        _ADDITIONS,
        _MULTIPLICATIONS,
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while True:
            kind, text, offset = self.peek()
            function = self._LEVELS[level].get(text) if kind in ("op", "ident") else None
            if function is None:
                return left
            self.at += 1
            right = self.binary(level + 1)
            left = Node("call", offset, function, args=[left, right])

    def unary(self) -> Node:
        kind, text, offset = self.peek()
        if kind == "op" and text in ("!", "-"):
            count = 0
            while self.peek()[1] == text and self.peek()[0] == "op":
                self.at += 1
                count += 1
            if text == "-" and self.peek()[0] == "number" and count == 1:
                literal = self.member()
                if literal.kind == "literal" and isinstance(literal.value, (int, float)):
                    if isinstance(literal.value, Uint):
                        raise Unsupported("negative uint")
                    literal.value = -literal.value
                    literal.offset = offset
                    return literal
                return Node("call", offset, "-_", args=[literal])
            operand = self.member()
            if count % 2 == 0:
                return operand
            return Node("call", offset, "!_" if text == "!" else "-_", args=[operand])
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while True:
            kind, text, offset = self.peek()
            if kind != "op":
                return node
            if text == ".":
                self.at += 1
                name = self.take()
                if name[0] != "ident":
                    raise Unsupported("select of a non-identifier")
                if self.peek()[1] == "(":
                    opening = self.take("(")[2]
                    node = _member_call(node, name[1], opening, self.arguments(")"))
                else:
                    node = Node("select", offset, name[1], target=node)
            elif text == "[":
                self.at += 1
                index = self.expr()
                self.take("]")
                node = Node("call", offset, "_[_]", args=[node, index])
            elif text in (".?", "[?"):
                raise Unsupported("optional selection")
            else:
                return node

    def arguments(self, closing: str) -> list[Node]:
        args: list[Node] = []
        while self.peek()[1] != closing:
            args.append(self.expr())
            if not self.accept(","):
                break
        self.take(closing)
        return args

    def primary(self) -> Node:
        kind, text, offset = self.take()
        if kind == "number":
            return Node("literal", offset, _number(text))
        if kind == "string":
            return Node("literal", offset, _unquote(text))
        if kind == "ident":
            if text in ("true", "false"):
                return Node("literal", offset, text == "true")
            if text == "null":
                return Node("literal", offset, None)
            if self.peek()[1] == "(":
                opening = self.take("(")[2]  # cel-go places a global call at its parenthesis
                return _global_call(text, opening, self.arguments(")"))
            if self.peek()[1] == "{":
                raise Unsupported("message construction")
            return Node("ident", offset, text)
        if text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if text == "[":
            return Node("list", offset, args=self.arguments("]"))
        if text == "{":
            entries: list[Node] = []
            while self.peek()[1] != "}":
                entries.append(self.expr())
                self.take(":")
                entries.append(self.expr())
                if not self.accept(","):
                    break
            self.take("}")
            return Node("map", offset, args=entries)
        if text == ".":
            raise Unsupported("leading-dot identifier")
        raise Unsupported(f"unexpected {text!r}")


class Uint(int):
    """A ``u``-suffixed integer literal (CEL's uint)."""


def _number(text: str) -> int | float:
    if text[-1] in "uU":
        return Uint(int(text[:-1], 0))
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if any(c in text for c in ".eE"):
        return float(text)
    return int(text)


def _global_call(name: str, offset: int, args: list[Node]) -> Node:
    if name == "has":
        if len(args) != 1 or args[0].kind != "select":
            raise Unsupported("has() of a non-select")
        args[0].test_only = True
        args[0].macro = "has"
        return args[0]
    return Node("call", offset, name, args=args)


def _member_call(target: Node, name: str, offset: int, args: list[Node]) -> Node:
    if name in ("all", "exists", "exists_one", "map", "filter") and args and args[0].kind == "ident":
        if len(args) == 2 or (name == "map" and len(args) == 3 and args[1].kind != "ident"):
            return _comprehension(target, name, offset, args)
        raise Unsupported(f"{name}() with {len(args)} arguments")
    if name in ("existsOne", "transformList", "transformMap", "transformMapEntry", "optMap", "optFlatMap"):
        raise Unsupported(f"macro {name}()")
    return Node("call", offset, name, target=target, args=args)


def _comprehension(target: Node, name: str, offset: int, args: list[Node]) -> Node:
    """cel-go's expansion of a comprehension macro (parser/macro.go)."""
    var = str(args[0].value)

    def accu() -> Node:
        return Node("ident", offset, ACCU)

    def call(function: str, *operands: Node) -> Node:
        return Node("call", offset, function, args=list(operands))

    def literal(value: Any) -> Node:
        return Node("literal", offset, value)

    if name == "all":
        init, cond = literal(True), call("@not_strictly_false", accu())
        step, result = call("_&&_", accu(), args[1]), accu()
    elif name == "exists":
        init, cond = literal(False), call("@not_strictly_false", call("!_", accu()))
        step, result = call("_||_", accu(), args[1]), accu()
    elif name == "exists_one":
        init, cond = literal(0), literal(True)
        step = call("_?_:_", args[1], call("_+_", accu(), literal(1)), accu())
        result = call("_==_", accu(), literal(1))
    elif name == "map":
        init, cond, result = Node("list", offset), literal(True), accu()
        step = call("_+_", accu(), Node("list", offset, args=[args[-1]]))
        if len(args) == 3:
            step = call("_?_:_", args[1], step, accu())
    else:  # filter
        init, cond, result = Node("list", offset), literal(True), accu()
        step = call("_?_:_", args[1], call("_+_", accu(), Node("list", offset, args=[args[0]])), accu())
    return Node(
        "comprehension",
        offset,
        macro=name,
        var=var,
        accu=ACCU,
        range=target,
        init=init,
        cond=cond,
        step=step,
        result=result,
    )


def parse(text: str) -> Node:
    """The syntax tree of ``text`` (raises ``Unsupported`` for what this parser does not read)."""
    parser = _Parser(text)
    node = parser.expr()
    if parser.peek()[0] != "end":
        raise Unsupported("trailing input")
    return node
