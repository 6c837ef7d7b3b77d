"""Evaluating an expression with what is known before Terraform runs: literals, templates,
`path.*`, variables, locals, `terraform.workspace`, iterators, and the few functions that build
paths (`join`, `format`, `abspath`, `dirname`, `basename`, `pathexpand`). Anything else is
`Unknown`, with a reason the widening message shows."""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from lark import Token, Tree

from tfcontroller.source.module_reads.syntax import (
    _arguments,
    _attr_names,
    _function_name,
    _identifier,
    _snippet,
)
from tfcontroller.source.module_reads.values import (
    _ARTIFACT,
    _PASS_THROUGH,
    _PATH_NAMES,
    FILE_FUNCTIONS,
    Part,
    Unknown,
    Value,
    _as_parts,
    _concrete,
    _FileSetValue,
    _join,
    _merge,
    _Scope,
    _unescape,
    _why,
)


class _Evaluator:
    def __init__(self, scope: _Scope) -> None:
        self.scope = scope

    def eval(self, node: Any) -> Any:
        if isinstance(node, Token):
            return (str(node),)
        if not isinstance(node, Tree):
            return Unknown("an expression")
        method = getattr(self, f"_{node.data}", None)
        if method is None:
            return Unknown(f"a {str(node.data).replace('_', ' ')}")
        return method(node)

    def _expr_term(self, node: Tree[Token]) -> Any:
        trees = [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
        return self.eval(trees[0]) if len(trees) == 1 else Unknown("an expression")

    def _int_lit(self, node: Tree[Token]) -> Any:
        return ("".join(str(c) for c in node.children),)

    _float_lit = _int_lit

    def _string(self, node: Tree[Token]) -> Any:
        parts: list[Part] = []
        for part in node.children:
            if not isinstance(part, Tree) or part.data != "string_part":
                continue
            for child in part.children:
                if isinstance(child, Token):
                    parts.append(_unescape(str(child)))
                elif isinstance(child, Tree) and child.data == "interpolation":
                    inner = next((c for c in child.children if isinstance(c, Tree)), None)
                    parts.extend(_as_parts(self.eval(inner)))
                else:
                    parts.append(Unknown("a template directive"))
        return _merge(parts)

    def _heredoc_template(self, node: Tree[Token]) -> Any:
        return Unknown("a heredoc")

    def _identifier(self, node: Tree[Token]) -> Any:
        name = _identifier(node)
        if name in self.scope.iterators:
            return self.scope.iterators[name]
        return Unknown(name or "an identifier")

    def _tuple(self, node: Tree[Token]) -> Any:
        return [self.eval(c) for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]

    def _get_attr_expr_term(self, node: Tree[Token]) -> Any:
        root, name = _attr_names(node)
        scope = self.scope
        if root == "path" and name in _PATH_NAMES:
            where = scope.module_dir if name == "module" else scope.root_dir
            return (_join(_ARTIFACT, where),)
        if root == "var" and name:
            return scope.variables.get(name, Unknown(f"var.{name}, which is not declared"))
        if root == "local" and name:
            if name not in scope.local_values:
                scope.local_values[name] = self._local(name)
            return scope.local_values[name]
        if root == "terraform" and name == "workspace" and scope.workspace is not None:
            return (scope.workspace,)
        if root in scope.iterators and name in ("key", "value"):
            return scope.iterators[root]
        if root in ("path", "var", "local", "terraform", "each", "count", "self", "data", "module") \
                or root in scope.iterators:
            return Unknown(f"{root}.{name}" if name else root)
        base = self.eval(node.children[0])  # local.paths.templates, var.config.dir, …
        if isinstance(base, dict) and name in base:
            return base[name]
        return Unknown(f"{_why(base)}.{name}" if isinstance(base, Unknown) else f"the attribute {name}")

    def _index_expr_term(self, node: Tree[Token]) -> Any:
        base = self.eval(node.children[0])
        index = next((c for c in node.children[1].children if isinstance(c, Tree)), None) \
            if isinstance(node.children[1], Tree) else None
        key = _concrete(self.eval(index)) if index is not None else None
        if isinstance(base, dict) and key in base:
            return base[key]
        if isinstance(base, list) and key is not None and key.isdigit() and int(key) < len(base):
            return base[int(key)]
        return Unknown(f"{_why(base)}[…]" if isinstance(base, Unknown) else "an index into a collection")

    def _object(self, node: Tree[Token]) -> Any:
        found: dict[str, Any] = {}
        for elem in node.children:
            if not isinstance(elem, Tree) or elem.data != "object_elem":
                continue
            trees = [c for c in elem.children if isinstance(c, Tree)]
            if len(trees) < 2:
                return Unknown("an object")
            key_node = trees[0]
            key = _identifier(key_node.children[0]) if key_node.children else None
            if key is None:
                key = _concrete(self.eval(key_node.children[0])) if key_node.children else None
            if key is None:
                return Unknown("an object with a computed key")
            found[key] = self.eval(trees[-1])
        return found

    def _local(self, name: str) -> Any:
        scope = self.scope
        found = scope.local_exprs.get(name)
        if found is None or name in scope.evaluating:
            return Unknown(f"local.{name}")
        expr, filename, text = found
        inner = dataclasses.replace(scope, filename=filename, text=text, iterators={},
                                    evaluating=scope.evaluating | {name}, line=None)
        value = _Evaluator(inner).eval(expr)
        return Unknown(f"local.{name} ({value.why})") if isinstance(value, Unknown) and not value.safe else value

    def _function_call(self, node: Tree[Token]) -> Any:
        name = _function_name(node)
        args = [self.eval(a) for a in _arguments(node)]
        if name == "fileset":
            return _FileSetValue()
        if name in _PASS_THROUGH and args:
            return args[0]
        if name in FILE_FUNCTIONS:
            return Unknown(f"the result of {name}()")
        handler = _FUNCTIONS.get(name or "")
        if handler is None:
            return Unknown(f"{name}()")
        try:
            return handler(self.scope, args)
        except (ValueError, TypeError, IndexError):
            return Unknown(f"{name}()")


def _fn_join(_scope: _Scope, args: list[Any]) -> Any:
    sep = _concrete(args[0])
    if sep is None:
        raise ValueError
    items = [item for lst in args[1:] if isinstance(lst, list) for item in lst]
    if any(not isinstance(lst, list) for lst in args[1:]):
        raise ValueError
    parts: list[Part] = []
    for index, item in enumerate(items):
        if index:
            parts.append(sep)
        parts.extend(_as_parts(item))
    return _merge(parts)


def _fn_format(_scope: _Scope, args: list[Any]) -> Any:
    fmt = _concrete(args[0])
    if fmt is None:
        raise ValueError
    parts: list[Part] = []
    pieces = re.split(r"(%%|%s|%v|%d)", fmt)
    rest = list(args[1:])
    for piece in pieces:
        if piece == "%%":
            parts.append("%")
        elif piece in ("%s", "%v", "%d"):
            parts.extend(_as_parts(rest.pop(0)))
        elif "%" in piece:
            raise ValueError
        else:
            parts.append(piece)
    return _merge(parts)


def _fn_abspath(scope: _Scope, args: list[Any]) -> Any:
    parts = _as_parts(args[0])
    if parts and isinstance(parts[0], str) and parts[0].startswith("/"):
        return tuple(parts)
    return _merge([_join(_ARTIFACT, scope.root_dir) + "/", *parts])


def _fn_dirname(_scope: _Scope, args: list[Any]) -> Any:
    text = _concrete(args[0])
    if text is None:
        raise ValueError
    return (posixpath.dirname(text) or ".",)


def _fn_basename(_scope: _Scope, args: list[Any]) -> Any:
    text = _concrete(args[0])
    if text is None:
        raise ValueError
    return (posixpath.basename(text),)


def _fn_pathexpand(_scope: _Scope, args: list[Any]) -> Any:
    parts = _as_parts(args[0])
    if parts and isinstance(parts[0], str) and parts[0].startswith("~"):
        raise ValueError
    return tuple(parts)


_FUNCTIONS = {"join": _fn_join, "format": _fn_format, "abspath": _fn_abspath, "dirname": _fn_dirname,
              "basename": _fn_basename, "pathexpand": _fn_pathexpand}



def _each_binding(scope: _Scope, attrs: Mapping[str, Any]) -> dict[str, Value]:
    """`each` inside a block: a fileset's members when `for_each` iterates one, else unknown."""
    if "for_each" in attrs:
        value = _Evaluator(scope).eval(attrs["for_each"])
        if isinstance(value, _FileSetValue):
            return {"each": Unknown("a fileset() member", safe=True)}
        return {"each": Unknown(f"each.key/each.value of for_each = {_snippet(scope, attrs['for_each'])}")}
    return {}


def _iterator_name(attrs: Mapping[str, Any]) -> str | None:
    return _identifier(attrs["iterator"]) if "iterator" in attrs else None


