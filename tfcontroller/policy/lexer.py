"""A small Rego lexer: what the engine does not tell us about a module, read from its tokens.

regopy (rego-cpp) parses Rego v1 but is lenient where OPA 1.x is strict and silent where we need a
location: it accepts v0 rule bodies without `if` (`deny[msg] { … }` silently becomes an *object*, so a
conftest policy written for OPA 0.x would deny nothing), and it reports an unknown function only when a
query reaches the call, without a line. Both are compile errors in OPA 1.x, so we find them here, with
file:line, before a policy is used. The lexer also gives the packages and top-level rule names (which
conftest rules a bundle defines).

Only tokens are read — strings (`"…"`, raw `` `…` ``) and comments are skipped — never a full grammar:
the engine stays the judge of everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset({
    "package", "import", "default", "if", "contains", "else", "some", "every", "in", "not", "with", "as",
    "true", "false", "null", "data", "input",
})

# tokens after which a `{` at the top level is a value or a v1 body, never a v0 rule body
_NOT_A_HEAD_END = frozenset({"if", "else", "contains", "in", "not", "some", "every", "with", "as", "package",
                             "import", "default"})

# identifiers, numbers, strings, raw strings, comments, operators, brackets; anything else one char
_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*")
  | (?P<raw>`[^`]*`)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|\|)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.X)


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, op, other
    text: str
    line: int  # 1-based
    column: int  # 1-based
    offset: int  # in characters
    depth: int  # bracket depth before the token (0: top level of the module)


@dataclass(frozen=True)
class Finding:
    """A problem found in a module's tokens (bundle.CompileError is made from it)."""

    line: int
    column: int
    message: str


def tokens(text: str) -> list[Token]:
    """The module's tokens, without comments and spaces, each with its line, column and bracket depth."""
    out: list[Token] = []
    line, line_start, depth = 1, 0, 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        value = m.group()
        if kind not in ("space", "comment"):
            tok_kind = "string" if kind == "raw" else kind
            if value in ")]}":
                depth = max(0, depth - 1)
            out.append(Token(tok_kind, value, line, m.start() - line_start + 1, m.start(), depth))
            if value in "([{":
                depth += 1
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = m.start() + value.rindex("\n") + 1
    return out


def packages(text: str) -> list[str]:
    """The package paths a module declares (one, normally), e.g. ["main"] or ["terraform.tags"]."""
    toks = tokens(text)
    out = []
    for i, tok in enumerate(toks):
        if tok.kind == "ident" and tok.text == "package" and tok.depth == 0:
            out.append(_dotted(toks, i + 1)[0])
    return out


def rule_names(text: str) -> set[str]:
    """The names of the rules a module defines at its top level (`deny`, `warn_tags`, helpers…)."""
    return {toks[i].text for toks in [tokens(text)] for i in _rule_starts(toks)}


def function_names(text: str) -> set[str]:
    """The functions a module defines: a rule head `name(args) …`."""
    toks = tokens(text)
    return {toks[i].text for i in _rule_starts(toks)
            if i + 1 < len(toks) and toks[i + 1].text == "("}


def calls(text: str) -> list[tuple[str, Token]]:
    """Every call in the module: the dotted name before `(` (`sprintf`, `object.get`, `data.lib.f`), with
    the token it starts at. Rule heads that define functions are not calls."""
    toks = tokens(text)
    heads = set(_rule_starts(toks))
    out = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "ident" and tok.text not in KEYWORDS - {"data"} and (i == 0 or toks[i - 1].text != "."):
            name, end = _dotted(toks, i)
            if end < len(toks) and toks[end].text == "(" and i not in heads:
                out.append((name, tok))
            i = max(end, i + 1)
            continue
        i += 1
    return out


def v1_findings(text: str) -> list[Finding]:
    """Where the module is Rego v0, not v1 (OPA 1.x refuses these; regopy accepts them with another meaning):
    a rule body opened without `if`, and a conftest rule (`deny`, `warn`, `violation`…) written
    `deny[msg]`, which Rego v1 reads as an object rule."""
    toks = tokens(text)
    found = []
    starts = set(_rule_starts(toks))
    for i, tok in enumerate(toks):
        if i in starts and is_conftest_rule(tok.text) and i + 1 < len(toks) and toks[i + 1].text == "[":
            found.append(Finding(tok.line, tok.column, f"rule '{tok.text}[…]' is Rego v0: write "
                                 f"'{tok.text} contains msg if {{ … }}' (Rego v1 is required)"))
        if tok.text != "{" or tok.depth != 0 or i == 0:
            continue
        before = toks[i - 1]
        opens_body = before.text in ("]", ")", "}") or (
            before.kind in ("ident", "string", "number") and before.text not in _NOT_A_HEAD_END)
        if not opens_body:
            continue
        found.append(Finding(tok.line, tok.column, "rule body without 'if' is Rego v0: write "
                             "'… if { … }' (Rego v1 is required)"))
    return found


def is_conftest_rule(name: str) -> bool:
    """conftest's rule names: `deny`, `violation`, `warn`, and those with a `_suffix`."""
    return any(name == kind or name.startswith(kind + "_") for kind in ("deny", "violation", "warn"))


def _dotted(toks: list[Token], i: int) -> tuple[str, int]:
    """The dotted name starting at token `i` (`a.b.c`) and the index after it."""
    parts = [toks[i].text] if i < len(toks) else []
    j = i + 1
    while j + 1 < len(toks) and toks[j].text == "." and toks[j + 1].kind == "ident" \
            and toks[j].offset == toks[j - 1].offset + len(toks[j - 1].text):
        parts.append(toks[j + 1].text)
        j += 2
    return ".".join(parts), j


def _rule_starts(toks: list[Token]) -> list[int]:
    """Indexes of the tokens that start a top-level rule: an identifier at depth 0 that begins a statement
    (after `}` or a line break at depth 0, not after `package`/`import`/`default`…)."""
    out = []
    for i, tok in enumerate(toks):
        if tok.kind != "ident" or tok.depth != 0 or tok.text in KEYWORDS:
            continue
        prev = toks[i - 1] if i else None
        if prev is not None and prev.text == "default":
            out.append(i)
            continue
        if prev is None or (prev.line < tok.line and prev.text not in (".", ",", ":=", "=", "==", "if", "else",
                                                                       "contains", "package", "import", "as")
                            and prev.kind != "op"):
            out.append(i)
    return out

