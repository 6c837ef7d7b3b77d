"""Reading python-hcl2's parse tree: parsing (also heredoc interpolations and `.tf.json` rewritten
as HCL), and the small accessors for blocks, attributes, identifiers and calls that the walker and
the evaluator share. Knows the grammar's node names; evaluates nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import hcl2.api
from lark import Lark, Token, Tree

from tfcontroller.source.module_reads.values import (
    _PATH_NAMES,
    _TEMPLATE_READ,
    FILE_FUNCTIONS,
    _Scope,
)

_hcl2_parser: Callable[[], Lark] | None
try:  # the parser `hcl2.loads` uses, built once from its cached grammar tables
    from hcl2.parser import parser as _hcl2_parser
except ImportError:  # pragma: no cover - older python-hcl2
    _hcl2_parser = None


def _parse_hcl(text: str) -> Tree[Token]:
    """The syntax tree of HCL text. Not `hcl2.parses`: it builds a second, uncached parser (seconds on
    first use) for reconstruction, which we do not need; the tree is the same grammar's."""
    if _hcl2_parser is None:
        return hcl2.api.parses(text)
    return _hcl2_parser().parse(text + "\n")



def _unwrap(node: Any) -> Any:
    while isinstance(node, Tree) and node.data == "expr_term":
        trees = [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]
        if len(trees) != 1:
            return node
        node = trees[0]
    return node


def _identifier(node: Any) -> str | None:
    node = _unwrap(node)
    if isinstance(node, Tree) and node.data == "identifier" and node.children:
        return str(node.children[0])
    return None


def _attr_names(node: Tree[Token]) -> tuple[str | None, str | None]:
    """`("path", "module")` for `path.module`; None parts for anything more complex (`a.b[0].c`)."""
    base, attr = node.children[0], node.children[-1]
    root = _identifier(base)
    name = None
    if isinstance(attr, Tree) and attr.data == "get_attr":
        name = next((_identifier(c) for c in attr.children if isinstance(c, Tree)), None)
    return root, name


def _function_name(node: Tree[Token]) -> str | None:
    return _identifier(node.children[0]) if node.children else None


def _arguments(node: Tree[Token]) -> list[Any]:
    args = next((c for c in node.children if isinstance(c, Tree) and c.data == "arguments"), None)
    if args is None:
        return []
    return [c for c in args.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _mentions_path(node: Any) -> bool:
    """Whether the expression refers to `path.*`, not counting the arguments of file functions (their
    paths are the file function's business) or heredocs (their expressions are walked one by one)."""
    if not isinstance(node, Tree) or node.data in ("heredoc_template", "heredoc_template_trim"):
        return False
    if node.data == "function_call" and _function_name(node) in FILE_FUNCTIONS:
        return False
    if node.data == "get_attr_expr_term" and _attr_names(node) in {("path", n) for n in _PATH_NAMES}:
        return True
    return any(_mentions_path(child) for child in node.children)


def _block_parts(block: Tree[Token]) -> tuple[str, list[str], Tree[Token]] | None:
    kind = _identifier(block.children[0]) if block.children else None
    body = next((c for c in block.children if isinstance(c, Tree) and c.data == "body"), None)
    if kind is None or body is None:
        return None
    labels: list[str] = []
    for child in block.children[1:]:
        if isinstance(child, Tree) and child.data == "string":
            labels.append("".join(str(t) for p in child.children if isinstance(p, Tree)
                                  for t in p.children if isinstance(t, Token)))
        elif isinstance(child, Tree) and child.data == "identifier":
            labels.append(_identifier(child) or "")
    return kind, labels, body


def _blocks(tree: Tree[Token]) -> Iterator[tuple[Tree[Token], str, list[str], Tree[Token]]]:
    """Top-level blocks of a parsed file."""
    body = next((c for c in tree.children if isinstance(c, Tree) and c.data == "body"), tree)
    for child in body.children:
        if isinstance(child, Tree) and child.data == "block":
            parts = _block_parts(child)
            if parts is not None:
                yield child, *parts


def _attributes(body: Tree[Token]) -> Iterator[tuple[str, Any]]:
    for child in body.children:
        if isinstance(child, Tree) and child.data == "attribute":
            name = _identifier(child.children[0])
            if name:
                yield name, _attribute_expr(child)


def _attribute_expr(attribute: Tree[Token]) -> Any:
    return next((c for c in attribute.children[1:] if isinstance(c, Tree)), None)


def _snippet(scope: _Scope, node: Any) -> str:
    meta = getattr(node, "meta", None)
    if meta is None or getattr(meta, "empty", True) or not scope.text:
        return "an expression"
    text = " ".join(scope.text[meta.start_pos:meta.end_pos].split())
    return text if len(text) <= 120 else text[:117] + "..."


def _template_expressions(heredoc: str) -> list[tuple[Any, str]]:
    """The `${…}` expressions of a heredoc (python-hcl2 keeps heredocs as text), parsed, each with the
    source its positions refer to. One python-hcl2 cannot parse stands as an unknown call to `file`."""
    found: list[tuple[Any, str]] = []
    for expression in _interpolations(heredoc):
        source = f"x = {expression}\n"
        try:
            tree = _parse_hcl(source)
        except Exception:  # lark raises errors of many types
            if _TEMPLATE_READ.search("${" + expression + "}"):
                source = 'x = file(unparsed)\n'
                tree = _parse_hcl(source)
            else:
                continue
        attribute = next(tree.find_data("attribute"), None)
        if attribute is not None:
            found.append((_attribute_expr(attribute), source))
    return found


def _interpolations(text: str) -> Iterator[str]:
    index = 0
    while True:
        start = text.find("${", index)
        if start < 0:
            return
        if start > 0 and text[start - 1] == "$":
            index = start + 2
            continue
        depth, i, quote = 1, start + 2, False
        while i < len(text) and depth:
            ch = text[i]
            if ch == '"' and text[i - 1] != "\\":
                quote = not quote
            elif not quote and ch == "{":
                depth += 1
            elif not quote and ch == "}":
                depth -= 1
            i += 1
        yield text[start + 2:i - 1]
        index = i


def _json_as_hcl(text: str) -> str:
    """A `.tf.json` file as HCL the walker reads the same way: variables (defaults), locals and module
    calls keep their shape; every other string (a template in Terraform's JSON syntax) becomes an
    attribute of a synthetic `json` block, so its expressions are walked."""
    doc = json.loads(text)
    lines: list[str] = []
    locals_lines: list[str] = []
    variables: list[str] = []

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)

    for kind, blocks in (doc.items() if isinstance(doc, dict) else []):
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if not isinstance(block, dict):
                continue
            if kind == "locals":
                for name, value in block.items():
                    locals_lines.append(f"  {name} = {_hcl_literal(value)}")
            elif kind == "variable":
                for name, body in block.items():
                    default = body.get("default") if isinstance(body, dict) else None
                    variables.append(f'variable "{name}" {{\n' + (
                        f"  default = {_hcl_literal(default)}\n" if isinstance(body, dict) and "default" in body
                        else "") + "}")
            elif kind == "module":
                for name, body in block.items():
                    attrs = "\n".join(f"  {k} = {_hcl_literal(v)}" for k, v in (body or {}).items()
                                      if isinstance(body, dict))
                    lines.append(f'module "{name}" {{\n{attrs}\n}}')
            else:
                for index, value in enumerate(strings(block)):
                    lines.append(f'json "{kind}" {{\n  v{index} = {_hcl_literal(value)}\n}}')
    return "\n".join(variables + ([f"locals {{\n{chr(10).join(locals_lines)}\n}}"] if locals_lines else [])
                     + lines) + "\n"


def _hcl_literal(value: Any) -> str:
    """A JSON value as HCL: strings keep their `${…}` templates (Terraform's JSON syntax)."""
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("\n", "\\n")
        out, index = [], 0
        for expression in _interpolations(escaped):  # quotes inside `${…}` stay as they are
            start = escaped.find("${" + expression, index)
            out.append(escaped[index:start].replace('"', '\\"'))
            out.append("${" + expression + "}")
            index = start + len(expression) + 3
        out.append(escaped[index:].replace('"', '\\"'))
        return '"' + "".join(out) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_hcl_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_hcl_literal(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))
