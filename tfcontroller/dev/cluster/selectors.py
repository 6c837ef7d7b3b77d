"""Label and field selectors, parsed once per request into a predicate over stored objects.

Label grammar as in apimachinery's `labels.Parse`: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
`k` (exists), `!k` (does not exist), `k>n`, `k<n`; terms joined by commas. Field selectors accept
`=`, `==` and `!=` on any dotted path (the real server allows a per-kind list; being lenient here
costs nothing for tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tfcontroller.dev.cluster.errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_OP_TERM = re.compile(r"^\s*([^=!<>\s]+)\s*(==|!=|=|>|<)\s*(\S*)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised value set."""
    terms: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    terms.append("".join(cur))
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    m = _SET_TERM.match(term)
    if m:
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    m = _OP_TERM.match(term)
    if m:
        key, op, value = m.group(1), m.group(2), m.group(3)
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        try:
            bound = int(value)
        except ValueError:
            raise bad_request(f"unable to parse requirement: invalid number {value!r}") from None

        def _compare(labels: dict[str, str]) -> bool:
            try:
                have = int(labels[key])
            except (KeyError, ValueError):
                return False
            return have > bound if op == ">" else have < bound

        return _compare
    if re.fullmatch(r"[A-Za-z0-9./_-]+", term):
        return lambda labels: term in labels
    raise bad_request(f"unable to parse requirement: {term!r}")


def label_selector(text: str | None) -> Predicate:
    if not text:
        return lambda obj: True
    preds = [_label_term(t) for t in _split_terms(text)]

    def _match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(p(labels) for p in preds)

    return _match


def label_equalities(text: str | None) -> list[tuple[str, frozenset[str]]]:
    """The terms of a label selector that pin a label to a set of values (`k=v`, `k==v`, `k in (a,b)`),
    as [(key, values)]: the store narrows a list to the objects its label index holds for them before
    the whole selector is applied. Other terms (`!=`, `notin`, exists, `>`) narrow nothing and are left
    out; a selector that does not parse gives [] (label_selector reports the error)."""
    if not text:
        return []
    found: list[tuple[str, frozenset[str]]] = []
    for term in _split_terms(text):
        m = _SET_TERM.match(term)
        if m:
            if m.group(2) == "in":
                found.append((m.group(1), frozenset(v.strip() for v in m.group(3).split(",") if v.strip())))
            continue
        m = _OP_TERM.match(term)
        if m and m.group(2) in ("=", "=="):
            found.append((m.group(1), frozenset([m.group(3)])))
    return found


def _field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_selector(text: str | None) -> Predicate:
    if not text:
        return lambda obj: True
    preds: list[Predicate] = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: {term!r}; can't understand {term!r}")
        path, op, value = m.group(1), m.group(2), m.group(3)
        preds.append(_field_test(path, value, equal=op != "!="))
    return lambda obj: all(p(obj) for p in preds)


def _field_test(path: str, value: str, *, equal: bool) -> Predicate:
    """One `path=value` (or `path!=value`) term; a function of its own so each term binds its own
    path and value (a lambda in the loop would see the last ones)."""

    def test(obj: dict[str, Any]) -> bool:
        return (_field_value(obj, path) == value) == equal

    return test


def field_equals(text: str | None, path: str) -> str | None:
    """The value a selector pins `path` to (`metadata.name=x` → "x"), for single-object watches."""
    if not text:
        return None
    for term in _split_terms(text):
        m = re.match(r"^\s*([^=!\s]+)\s*(==|=)\s*(.*?)\s*$", term)
        if m and m.group(1) == path:
            return m.group(3)
    return None
