"""The entry points and the walk: `module_reads` analyses the root module and follows local
`module` calls (`_Analyzer`), visiting every expression of each file (`_Walker`) and recording
the paths it reads; plus the tfvars and template checks the artifact digest uses. The rules are
in the package docstring (`tfcontroller.source.module_reads`)."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Collection, Mapping
from typing import Any

import hcl2.api
from lark import Token, Tree

from tfcontroller.source.module_reads.evaluate import _each_binding, _Evaluator, _iterator_name
from tfcontroller.source.module_reads.paths import _path_segments, _resolve
from tfcontroller.source.module_reads.syntax import (
    _arguments,
    _attribute_expr,
    _attributes,
    _block_parts,
    _blocks,
    _function_name,
    _identifier,
    _json_as_hcl,
    _mentions_path,
    _parse_hcl,
    _snippet,
    _template_expressions,
)
from tfcontroller.source.module_reads.values import (
    _DIRECTIVE_READ,
    _MAX_DEPTH,
    _MAX_INSTANCES,
    _TEMPLATE_READ,
    _TFVARS,
    ANY_VARIABLE,
    FILE_FUNCTIONS,
    ModuleReads,
    Unknown,
    Value,
    _append,
    _as_parts,
    _concrete,
    _FileSetValue,
    _join,
    _Scope,
    _why,
)


def module_reads(tf_files: Mapping[str, Mapping[str, str]], root: str, provided_vars: Collection[str] = (),
                 known_vars: Mapping[str, str] | None = None, workspace: str | None = None) -> ModuleReads:
    """The reads of the root module at artifact-relative `root` and the local modules it calls.

    `tf_files`: artifact-relative directory → {file name: text} of the `.tf`/`.tf.json` files (all the
    artifact's, or at least those of the modules reached) and tfvars files. `provided_vars`: names of
    root variables set from outside the module's `.tf` files (the object's vars, `TF_VAR_*`;
    `ANY_VARIABLE` for all): their defaults do not count, so a path built from them is unresolved —
    unless `known_vars` gives the value the run will see (a literal `spec.vars` string). A variable a
    root tfvars file sets is never known (file order decides which value wins). `workspace`: the value
    of `terraform.workspace`, when known.
    """
    result = ModuleReads()
    in_tfvars = tfvars_names(tf_files.get(root, {})) if root in tf_files else set()
    overridden = set(provided_vars) | in_tfvars
    known = {k: v for k, v in (known_vars or {}).items() if k not in in_tfvars and ANY_VARIABLE not in in_tfvars}
    try:
        _Analyzer(tf_files, root, result, known, workspace).module(root, overridden, {}, depth=0)
    except (RecursionError, _TooManyModules) as exc:  # hostile or huge code: nothing is skipped, all widens
        result.widen(f"{root or '.'}: the module cannot be analysed ({exc or 'too deeply nested'})")
    except Exception as exc:  # python-hcl2 shapes we do not know: widen (and show it) rather than fail
        result.widen(f"{root or '.'}: the module cannot be analysed ({type(exc).__name__}: {exc})"[:300])
    return result


class _TooManyModules(Exception):
    """More module instances than `_MAX_INSTANCES`: a call graph fanning out (or hostile code)."""


def tfvars_names(files: Mapping[str, str]) -> set[str]:
    """Variables set by the directory's `terraform.tfvars` / `*.auto.tfvars` (`.json`) files; an
    unreadable one sets them all (`ANY_VARIABLE`)."""
    return var_file_names({name: text for name, text in files.items() if _TFVARS.match(name)})


def var_file_names(files: Mapping[str, str]) -> set[str]:
    """Variables the given variable definitions files set (a `.json` name: JSON, else HCL), e.g. those of
    `spec.tfVarsFiles`; an unreadable one sets them all (`ANY_VARIABLE`)."""
    names: set[str] = set()
    for filename, text in files.items():
        try:
            doc = json.loads(text) if filename.endswith(".json") else hcl2.api.loads(text)
        except Exception:  # python-hcl2 raises lark errors of many types
            return {ANY_VARIABLE}
        names.update(str(k) for k in doc) if isinstance(doc, dict) else names.add(ANY_VARIABLE)
    return names


def template_problems(name: str, text: str) -> list[str]:
    """A template may call file functions itself (with paths relative to the working directory, not
    known here): such a template cannot be resolved statically."""
    match = _TEMPLATE_READ.search(text)
    if not match:
        return []
    line = text.count("\n", 0, match.start()) + 1
    return [f"{name}:{line}: the template calls {match.group(1)}() itself"]


def is_tfvars(filename: str) -> bool:
    return bool(_TFVARS.match(filename))


# ------------------------------------------------------------------------------------------ analysis



class _Analyzer:
    def __init__(self, tf_files: Mapping[str, Mapping[str, str]], root: str, result: ModuleReads,
                 known_vars: Mapping[str, str], workspace: str | None) -> None:
        self.tf_files = tf_files
        self.root = root
        self.result = result
        self.known_vars = known_vars
        self.workspace = workspace
        self.done: set[tuple[str, str]] = set()
        self.trees: dict[tuple[str, str], tuple[Tree[Token], str] | None] = {}

    def _parse(self, directory: str, filename: str, text: str) -> tuple[Tree[Token], str] | None:
        """The file's tree and the text its positions refer to (`.tf.json` is rewritten as HCL)."""
        key = (directory, filename)
        if key not in self.trees:
            try:
                source = _json_as_hcl(text) if filename.endswith(".tf.json") else text
                self.trees[key] = (_parse_hcl(source), source)
            except Exception as exc:  # lark raises errors of many types on syntax python-hcl2 lacks
                first = " ".join(str(exc).split())[:120]
                self.result.widen(f"{_join(directory, filename)}: python-hcl2 cannot parse it ({first})")
                self.trees[key] = None
        return self.trees[key]

    def module(self, directory: str, overridden: Collection[str], args: Mapping[str, Value],
               depth: int) -> None:
        """Analyse one module instance; `args` are the caller's arguments (evaluated), `overridden`
        the root variables set from outside."""
        key = (directory, repr(sorted((k, repr(v)) for k, v in args.items())))
        if key in self.done:
            return
        if len(self.done) >= _MAX_INSTANCES:
            raise _TooManyModules(f"more than {_MAX_INSTANCES} module instances")
        self.done.add(key)
        self.result.modules.add(directory)
        files = {f: t for f, t in (self.tf_files.get(directory) or {}).items()
                 if f.endswith((".tf", ".tf.json"))}
        parsed = [(f, found[1], found[0]) for f, t in sorted(files.items())
                  if (found := self._parse(directory, f, t)) is not None]
        locals_: dict[str, tuple[Any, str, str]] = {}
        defaults: dict[str, Any] = {}
        for filename, text, tree in parsed:
            for _block, kind, labels, body in _blocks(tree):
                if kind == "locals":
                    for name, expr in _attributes(body):
                        locals_[name] = (expr, _join(directory, filename), text)
                elif kind == "variable" and labels:
                    defaults[labels[0]] = dict(_attributes(body)).get("default")
        variables: dict[str, Value] = {}
        local_values: dict[str, Any] = {}
        for name, default in defaults.items():
            if name in args:
                variables[name] = args[name]
            elif directory == self.root and name in self.known_vars:
                variables[name] = (self.known_vars[name],)
            elif directory == self.root and (name in overridden or ANY_VARIABLE in overridden):
                variables[name] = Unknown(f"var.{name}, set by the object or a tfvars file")
            elif default is None:
                variables[name] = Unknown(f"var.{name}, which has no default")
            else:
                blank = _Scope(directory, self.root, "", "", {}, {})
                variables[name] = _Evaluator(blank).eval(default)
        for filename, text, tree in parsed:
            scope = _Scope(directory, self.root, _join(directory, filename), text, locals_, variables,
                           workspace=self.workspace, local_values=local_values)
            _Walker(scope, self.result).body(tree)
            for _block, kind, labels, body in _blocks(tree):
                if kind == "module" and labels:
                    self._call(scope, body, overridden, depth)

    def _call(self, scope: _Scope, body: Tree[Token], overridden: Collection[str], depth: int) -> None:
        attrs = dict(_attributes(body))
        source = _Evaluator(scope).eval(attrs["source"]) if "source" in attrs else Unknown("no source")
        text = _concrete(source)
        if text is None or not text.startswith(("./", "../")):
            return  # registry, git, … modules: not in the artifact (Terraform pins them by version)
        target = posixpath.normpath(posixpath.join(scope.module_dir or ".", text.split("//")[0] or "."))
        target = "" if target == "." else target
        if target == ".." or target.startswith("../"):
            return  # Terraform refuses it; nothing in the artifact to digest
        if depth >= _MAX_DEPTH:
            self.result.widen(f"{scope.filename}: module calls nest deeper than {_MAX_DEPTH}")
            return
        walker_each = _each_binding(scope, attrs)
        call_scope = scope.with_iterators(walker_each)
        values = {name: _Evaluator(call_scope).eval(expr) for name, expr in attrs.items()
                  if name not in ("source", "version", "providers", "count", "for_each", "depends_on")}
        self.module(target, overridden, values, depth + 1)


class _Walker:
    """Visits every expression of a module file, recording reads into `result`."""

    def __init__(self, scope: _Scope, result: ModuleReads) -> None:
        self.scope = scope
        self.result = result

    def body(self, tree: Tree[Token]) -> None:
        for _block, _kind, _labels, body in _blocks(tree):
            self._block_body(body, self.scope)  # variable blocks too: a validation may call fileexists()

    def _block_body(self, body: Tree[Token], scope: _Scope) -> None:
        attrs = dict(_attributes(body))
        inner = scope.with_iterators(_each_binding(scope, attrs))
        for child in body.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "attribute":
                self.expr(_attribute_expr(child), inner, covered=False)
            elif child.data == "block":
                nested = _block_parts(child)
                if nested is None:
                    continue
                kind, labels, nested_body = nested
                iterator = labels[0] if kind == "dynamic" and labels else None
                if iterator:
                    dyn_attrs = dict(_attributes(nested_body))
                    iterator = _iterator_name(dyn_attrs) or iterator
                    each = _each_binding(inner, dyn_attrs)
                    bound = inner.with_iterators({iterator: each.get("each", Unknown(f"{iterator}.value"))})
                    self._block_body(nested_body, bound)
                else:
                    self._block_body(nested_body, inner)

    def expr(self, node: Any, scope: _Scope, covered: bool) -> None:
        if not isinstance(node, Tree):
            return
        data = node.data
        if data == "function_call":
            name = _function_name(node)
            if name in FILE_FUNCTIONS:
                self._file_call(node, name, scope)
                covered = True
        elif data in ("for_tuple_expr", "for_object_expr"):
            self._for(node, scope, covered)
            return
        if not covered and data in ("string", "function_call", "get_attr_expr_term") and _mentions_path(node):
            value = _Evaluator(scope).eval(node)
            segments = _path_segments(_as_parts(value))
            for segment in segments:  # "${path.module}/run.sh ${var.arg}": the word that is a path
                self._record(segment, scope, node)
            if not segments and _concrete(value) is None:  # path.* went into something not evaluated
                self._record(value, scope, node)
            covered = True
        elif not covered and data == "string":
            literal = _concrete(_Evaluator(scope).eval(node))
            if literal and literal.startswith(("./", "../")):
                self._record((literal,), scope, node, soft=True)
        if data in ("string", "heredoc_template", "heredoc_template_trim"):
            self._directives(node, scope)
        if data in ("heredoc_template", "heredoc_template_trim"):
            line = node.meta.line if not node.meta.empty else None
            for inner, source in _template_expressions(str(node.children[0]) if node.children else ""):
                self.expr(inner, scope.in_text(source, line), covered)
            return
        for child in node.children:
            self.expr(child, scope, covered)

    def _directives(self, node: Tree[Token], scope: _Scope) -> None:
        """`%{ for f in fileset(…) }` in a template string: python-hcl2 keeps directives as text, so a
        file function inside one cannot be resolved."""
        for token in node.scan_values(lambda t: isinstance(t, Token)):
            match = _DIRECTIVE_READ.search(str(token))
            if match:
                self._unresolved(scope, node, f"a template directive calls {match.group(1)}()")
                return

    def _for(self, node: Tree[Token], scope: _Scope, covered: bool) -> None:
        intro = next((c for c in node.children if isinstance(c, Tree) and c.data == "for_intro"), None)
        if intro is None:
            return
        names = [_identifier(c) for c in intro.children if isinstance(c, Tree) and c.data == "identifier"]
        collection = next((c for c in intro.children if isinstance(c, Tree) and c.data != "identifier"), None)
        self.expr(collection, scope, covered)
        value = _Evaluator(scope).eval(collection) if collection is not None else Unknown("for")
        member: Value = Unknown("a fileset() member", safe=True) if isinstance(value, _FileSetValue) \
            else Unknown(f"the for expression over {_snippet(scope, collection)}")
        bound: dict[str, Value] = {}
        for index, name in enumerate(n for n in names if n):
            # `for k, v in fileset(...)`: k is an index; a single name is the member
            bound[name] = member if index == len([n for n in names if n]) - 1 else Unknown(f"{name}")
        inner = scope.with_iterators(bound)
        for child in node.children:
            if child is not intro:
                self.expr(child, inner, covered)

    def _file_call(self, node: Tree[Token], name: str, scope: _Scope) -> None:
        args = _arguments(node)
        ev = _Evaluator(scope)
        if not args:
            return
        first = ev.eval(args[0])
        if name == "fileset":
            pattern = ev.eval(args[1]) if len(args) > 1 else Unknown("no pattern")
            text = _concrete(pattern)
            if text is None:
                self._unresolved(scope, node, f"its pattern is unknown ({_why(pattern)})")
                return
            prefix = re.split(r"[*?\[{]", text, maxsplit=1)[0]
            prefix = prefix if prefix.endswith("/") or prefix == text else posixpath.dirname(prefix)
            joined = _append(first, "/" + prefix)
            self._record(joined, scope, node)
            return
        paths = self._record(first, scope, node)
        if name == "templatefile":
            self.result.templates.update(paths)

    def _record(self, value: Any, scope: _Scope, node: Tree[Token], soft: bool = False) -> list[str]:
        """Add the path `value` denotes; an unresolvable one widens (unless `soft`: a literal that
        only looks like a path)."""
        resolved = _resolve(value, scope)
        if isinstance(resolved, str):
            if soft and resolved == "":
                return []
            self.result.paths.add(resolved)
            return [resolved]
        if not soft:
            self._unresolved(scope, node, resolved[1])
        return []

    def _unresolved(self, scope: _Scope, node: Tree[Token], why: str) -> None:
        line = scope.line or (node.meta.line if not node.meta.empty else "?")
        self.result.widen(f"{scope.filename}:{line}: {_snippet(scope, node)}: {why}")


