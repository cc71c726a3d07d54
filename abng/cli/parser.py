"""The one parser behind execution, Tab completion, ``?`` help and abbreviations.

:func:`parse` turns a line into a :class:`Parsed` command (handler name, arguments, pipes) or
raises :class:`~abng.cli.errors.SyntaxErr` with the column.  :func:`complete` walks the same
trees with the same matching rules and returns what may come next.  Dynamic values (session
ids, interface names, the configuration schema and data) come from a :class:`Context`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from abng.cli import schema as S
from abng.cli.errors import SyntaxErr
from abng.cli.tokens import SEPARATORS, Token, split_on, tokenize
from abng.cli.tree import COMPARE_PIPE, GREEDY, PIPES, Arg, Node, PipeSpec

ENTER = "<[Enter]>"


class Context(Protocol):
    """Where the parser gets dynamic words; every method may return [] when abngd is away."""

    def schema(self) -> dict[str, Any]: ...
    def config_data(self) -> Any: ...
    def session_ids(self) -> list[tuple[str, str]]: ...
    def interfaces(self) -> list[tuple[str, str]]: ...
    def rollbacks(self) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class Pipe:
    kind: str  # match, except, count, last, no-more, display, compare
    arg: Any = None


@dataclass
class Parsed:
    handler: str
    args: dict[str, Any] = field(default_factory=dict)
    pipes: list[Pipe] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # the command spelled out in full


@dataclass
class _State:
    level: tuple[Node, ...]
    node: Node
    args: dict[str, Any] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    awaiting: Node | None = None  # keyword node whose value comes next
    greedy: Node | None = None
    greedy_tokens: list[Token] = field(default_factory=list)


def _match(level: tuple[Node, ...], tok: Token) -> Node:
    keywords = [n for n in level if not n.positional]
    for n in keywords:
        if n.keyword == tok.value:
            return n
    prefixed = [n for n in keywords if n.keyword.startswith(tok.value)] if tok.value else []
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        names = ", ".join(n.keyword for n in prefixed)
        raise SyntaxErr(f"ambiguous '{tok.value}': {names}", tok.start)
    for n in level:
        if n.positional:
            return n
    expected = ", ".join(n.keyword for n in keywords) or "end of command"
    raise SyntaxErr(f"syntax error at '{tok.value}' (expecting {expected})", tok.start)


def _value(node: Node, tok: Token) -> Any:
    text = tok.value
    name = node.dest.replace("_", " ")
    if node.arg in (Arg.INT, Arg.SESSION_ID, Arg.ROLLBACK):
        if not text.isdigit():
            raise SyntaxErr(f"{name}: expected a number, got '{text}'", tok.start)
        value = int(text)
        if node.arg is Arg.ROLLBACK and value > 49:
            raise SyntaxErr(f"rollback: {value} is out of range (0..49)", tok.start)
        return value
    if node.arg is Arg.CHOICE:
        if text in node.choices:
            return text
        hits = [c for c in node.choices if c.startswith(text)]
        if len(hits) == 1:
            return hits[0]
        raise SyntaxErr(f"{name}: '{text}' is not one of {', '.join(node.choices)}", tok.start)
    return text


def _step(st: _State, tok: Token) -> None:
    if st.greedy is not None:
        st.greedy_tokens.append(tok)
        return
    if st.awaiting is not None:
        st.args[st.awaiting.dest] = _value(st.awaiting, tok)
        st.words.append(tok.text)
        node, st.awaiting = st.awaiting, None
        _advance(st, node)
        return
    node = _match(st.level, tok)
    if node.positional and node.arg in GREEDY:
        st.node, st.greedy, st.greedy_tokens = node, node, [tok]
        return
    if node.positional:
        st.args[node.dest] = _value(node, tok)
        st.words.append(tok.text)
    else:
        st.words.append(node.keyword)
        if node.arg is not None:
            st.node, st.awaiting = node, node
            return
    _advance(st, node)


def _advance(st: _State, node: Node) -> None:
    if node.children:
        st.level = node.children
    elif node.loop:
        st.level = tuple(n for n in st.level if n.loop and n is not node)
    else:
        st.level = ()
    st.node = node


def _walk(tokens: list[Token], root: Node) -> _State:
    st = _State(level=root.children, node=root)
    for tok in tokens:
        _step(st, tok)
    return st


def _config_args(st: _State, ctx: Context) -> dict[str, Any]:
    """Check the greedy configuration part against the schema; return the handler's args."""
    assert st.greedy is not None
    toks = st.greedy_tokens
    vals = [t.value for t in toks]
    kind = st.greedy.arg
    try:
        w = S.walk(ctx.schema(), vals, stop_at_value=kind is not Arg.CONFIG_SECTION)
    except S.SchemaPathError as exc:
        raise SyntaxErr(str(exc), toks[exc.index].start) from None
    rest = toks[w.rest :]
    if kind is Arg.CONFIG_SECTION:
        return {"path": w.path}
    end = toks[-1].end if toks else 0
    if kind is Arg.CONFIG_DELETE:
        if len(rest) > 1 or (rest and w.node.get("kind") != "list"):
            raise SyntaxErr(f"{S.dotted(w.path)}: unexpected '{rest[-1].value}'", rest[-1].start)
        return {"path": w.path + [t.value for t in rest]}
    if not S.is_value_position(w.node):
        names = ", ".join(n for n, _ in S.suggestions(w))
        raise SyntaxErr(f"{S.dotted(w.path)} is incomplete: expecting {names}", end)
    if not rest:
        raise SyntaxErr(f"{S.dotted(w.path)}: missing value ({S.describe(w.node)})", end)
    if len(rest) > 1:
        raise SyntaxErr(f"{S.dotted(w.path)}: one value expected (quote values with spaces)", rest[1].start)
    error = S.check_value(w.node, w.path, rest[0].value)
    if error:
        raise SyntaxErr(error, rest[0].start)
    return {"path": w.path, "value": rest[0].value}


def _pipe_specs(st: _State, config_mode: bool) -> tuple[PipeSpec, ...]:
    if config_mode and st.node.handler == "config_show":
        return (*PIPES, COMPARE_PIPE)
    return PIPES


def _parse_pipe(group: list[Token], specs: tuple[PipeSpec, ...], column: int) -> Pipe:
    if not group:
        raise SyntaxErr("empty pipe", column)
    head = group[0]
    hits = [p for p in specs if p.keyword == head.value]
    hits = hits or [p for p in specs if p.keyword.startswith(head.value)]
    if len(hits) != 1:
        what = "ambiguous" if hits else "unknown"
        names = ", ".join(p.keyword for p in specs)
        raise SyntaxErr(f"{what} pipe '{head.value}' (expecting {names})", head.start)
    spec, rest = hits[0], group[1:]
    if spec.sub:
        subs = [s for s in spec.sub if rest and s.startswith(rest[0].value)]
        if len(rest) != 1 or len(subs) != 1:
            raise SyntaxErr(f"| {spec.keyword}: expecting {', '.join(spec.sub)}", head.end)
        return Pipe(spec.keyword, subs[0])
    if spec.arg is None:
        if rest:
            raise SyntaxErr(f"| {spec.keyword} takes no argument", rest[0].start)
        return Pipe(spec.keyword)
    if spec.keyword == "last" and not rest:
        return Pipe("last", 10)
    if len(rest) != 1:
        raise SyntaxErr(f"| {spec.keyword}: expecting one {spec.arg} (quote it if it has spaces)", head.end)
    if spec.keyword == "last":
        if not rest[0].value.isdigit():
            raise SyntaxErr(f"| last: expected a number, got '{rest[0].value}'", rest[0].start)
        return Pipe("last", int(rest[0].value))
    try:
        return Pipe(spec.keyword, re.compile(rest[0].value))
    except re.error as exc:
        raise SyntaxErr(f"| {spec.keyword}: invalid regular expression: {exc}", rest[0].start) from None


def parse(line: str, root: Node, ctx: Context, *, config_mode: bool = False) -> Parsed:
    """Parse one command line (pipes included) against ``root``."""
    tokens = tokenize(line)
    groups = split_on(tokens, "|")
    st = _walk(groups[0], root)
    end = groups[0][-1].end if groups[0] else 0
    if st.awaiting is not None:
        raise SyntaxErr(f"{st.awaiting.keyword}: missing value", end)
    if st.node.handler is None:
        expected = ", ".join(n.keyword for n in st.level)
        raise SyntaxErr(f"incomplete command (expecting {expected})" if expected else "empty command", end)
    args = dict(st.args)
    if st.greedy is not None:
        args.update(_config_args(st, ctx))
    seps = [t for t in tokens if t.text == "|"]
    specs = _pipe_specs(st, config_mode)
    pipes = [_parse_pipe(g, specs, seps[i].end) for i, g in enumerate(groups[1:])]
    return Parsed(st.node.handler, args, pipes, st.words + [t.text for t in st.greedy_tokens])


# --- completion -------------------------------------------------------------------------


def _values(node: Node, ctx: Context) -> list[tuple[str, str]]:
    if node.arg is Arg.CHOICE:
        return [(c, node.help) for c in node.choices]
    dynamic = {Arg.SESSION_ID: ctx.session_ids, Arg.INTERFACE: ctx.interfaces, Arg.ROLLBACK: ctx.rollbacks}
    source = dynamic.get(node.arg) if node.arg is not None else None
    placeholder = (node.keyword if node.positional else f"<{node.arg}>", node.help)
    return [*(source() if source else []), placeholder]


def _config_candidates(st: _State, ctx: Context) -> tuple[list[tuple[str, str]], bool]:
    assert st.greedy is not None
    vals = [t.value for t in st.greedy_tokens]
    kind = st.greedy.arg
    try:
        w = S.walk(ctx.schema(), vals, ctx.config_data(), stop_at_value=kind is not Arg.CONFIG_SECTION)
    except S.SchemaPathError:
        return [], False
    past = len(vals) - w.rest
    if kind is Arg.CONFIG_SECTION:
        return ([] if w.node.get("kind") in S.LEAF_KINDS else S.suggestions(w)), True
    at_value = S.is_value_position(w.node)
    if kind is Arg.CONFIG_DELETE:
        if past:
            return [], True
        if at_value and w.node.get("kind") == "list":
            items = w.data if isinstance(w.data, list) else []
            return [(str(v), "remove this value") for v in items], bool(w.path)
        return ([] if at_value else S.suggestions(w)), bool(w.path)
    if past:
        return [], past == 1
    return S.suggestions(w), False


def candidates(line: str, root: Node, ctx: Context, *, config_mode: bool = False) -> list[tuple[str, str]]:
    """(word, help) for what may follow ``line`` (whose last word is complete)."""
    tokens = tokenize(line, partial=True)
    groups = split_on(tokens, "|")
    try:
        st = _walk(groups[0], root)
    except SyntaxErr:
        return []
    if len(groups) > 1:
        return _pipe_candidates(groups[-1], _pipe_specs(st, config_mode))
    if st.awaiting is not None:
        return _values(st.awaiting, ctx)
    out: list[tuple[str, str]] = []
    can_run = st.node.handler is not None
    if st.greedy is not None:
        out, can_run = _config_candidates(st, ctx)
    else:
        for n in st.level:
            if n.positional and n.arg in GREEDY:
                out += _config_candidates(_State(level=(), node=n, greedy=n), ctx)[0]
            else:
                out += _values(n, ctx) if n.positional else [(n.keyword, n.help)]
    if can_run:
        out.append((ENTER, "Execute this command"))
        out.append(("|", "Pipe through a command"))
    return out


def _pipe_candidates(group: list[Token], specs: tuple[PipeSpec, ...]) -> list[tuple[str, str]]:
    if not group:
        return [(p.keyword, p.help) for p in specs]
    hits = [p for p in specs if p.keyword.startswith(group[0].value)]
    if len(hits) != 1 or len(group) > 1:
        return [(ENTER, "Execute this command"), ("|", "Pipe through a command")] if len(group) > 1 else []
    spec = hits[0]
    if spec.sub:
        return [(s, spec.help) for s in spec.sub]
    if spec.arg:
        return [(spec.arg, spec.help)]
    return [(ENTER, "Execute this command"), ("|", "Pipe through a command")]


@dataclass(frozen=True)
class Completion:
    word: str
    help: str
    start: int  # where the replaced word begins in the line


def complete(text: str, root: Node, ctx: Context, *, config_mode: bool = False) -> list[Completion]:
    """Completions for the word under the cursor (``text`` = the line up to the cursor)."""
    tokens = tokenize(text, partial=True)
    if not text or text[-1].isspace() or (tokens and tokens[-1].text in SEPARATORS):
        prefix, start, before = "", len(text), text
    else:
        last = tokens[-1]
        prefix, start, before = last.value, last.start, text[: last.start]
    return [
        Completion(word, help_, start)
        for word, help_ in candidates(before, root, ctx, config_mode=config_mode)
        if word.startswith(prefix) and not word.startswith("<") and word != "|"
    ]
