"""Which files of the artifact a Terraform module can read, found statically (design.md §4.1, §4.9).

Why: the inputs digest decides whether a commit re-plans. A module reads more than its own directory:
`file`, `templatefile`, `fileset`, `filebase64`, `filemd5`, `filesha*`, `filebase64sha*` and `fileexists`
take paths that may leave it (`"${path.module}/../../templates/motd.tpl"`), and providers read paths
given as attributes (`archive_file.source_dir = "${path.module}/../src"`). A commit changing only such a
file must re-plan, so every such path joins the digest.

The rule: every expression that reads a file, or builds a path from `path.module`, `path.root` or
`path.cwd` (up to the end of its word: a command line's arguments are not part of the script's path),
is evaluated with what is known before Terraform runs — string templates, heredocs, `path.*`, locals,
variables with literal defaults that nothing overrides or with the object's literal values,
`terraform.workspace`, the arguments a caller passes to a local child module,
`join`/`format`/`abspath`/`dirname`/`basename`, and `fileset()` results (relative paths without `..`,
so `file("${path.module}/${f}")` over them stays inside the fileset's directory). String literals
starting `./` or `../` count as paths too when they resolve inside the artifact. A path that can
not be resolved this way — computed from an overridden or required variable, `each`/`count` over
anything but a fileset, a function we do not evaluate, an absolute path, a path leaving the artifact, a
file python-hcl2 cannot parse, a template that itself calls a file function — makes the result
*unresolved*, and the caller widens the digest to the whole artifact and says why. Over-inclusion
only costs a needless plan; under-inclusion would skip a change, so every doubt widens.

Pure: the caller passes the Terraform files' texts (artifact-relative directory → file name → text);
nothing here does I/O. Paths are evaluated as Terraform does: relative paths against the working
directory, which for our runs is the root module's directory (`path.cwd`), even inside child modules.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import hcl2.api
from lark import Lark, Token, Tree

_hcl2_parser: Callable[[], Lark] | None
try:  # the parser `hcl2.loads` uses, built once from its cached grammar tables
    from hcl2.parser import parser as _hcl2_parser
except ImportError:  # pragma: no cover - older python-hcl2
    _hcl2_parser = None

# Functions whose first argument is a path that Terraform reads (fileset: a directory, then a pattern).
FILE_FUNCTIONS = frozenset({
    "file", "filebase64", "fileexists", "fileset", "templatefile", "filemd5", "filesha1", "filesha256",
    "filesha512", "filebase64sha256", "filebase64sha512",
})
# Functions that pass a collection through unchanged in what matters here (a fileset's members).
_PASS_THROUGH = frozenset({"toset", "tolist", "sort", "distinct", "compact", "flatten"})
_PATH_NAMES = frozenset({"module", "root", "cwd"})
# The absolute root standing for the artifact when evaluating `path.*`; never a real path (NUL byte).
_ARTIFACT = "/\0artifact"
_MAX_DEPTH = 16  # module calls nested deeper than this are not followed (Terraform has no such limit)
_MAX_TEXT = 4096  # longer computed strings are no paths (and doubling them must not exhaust memory)
_MAX_PARTS = 64
_MAX_INSTANCES = 256  # module instances analysed (one per distinct set of arguments) before giving up
_TEMPLATE_READ = re.compile(r"[$%]\{[^}]*\b(" + "|".join(sorted(FILE_FUNCTIONS)) + r")\s*\(")
_DIRECTIVE_READ = re.compile(r"%\{[^}]*\b(" + "|".join(sorted(FILE_FUNCTIONS)) + r")\s*\(")
_TFVARS = re.compile(r"^(terraform\.tfvars|.*\.auto\.tfvars)(\.json)?$")
ANY_VARIABLE = "*"  # in `provided_vars`: every variable may be set from outside (e.g. unreadable tfvars)


@dataclass(frozen=True)
class Unknown:
    """A value not known before Terraform runs. `safe`: a relative path with no `..` (a fileset member)."""

    why: str
    safe: bool = False


Part = str | Unknown
Value = tuple[Part, ...] | list[Any] | dict[str, Any] | Unknown  # a string (maybe with unknown parts),
# a tuple, an object, or unknown


@dataclass(frozen=True)
class _FileSetValue:
    """What `fileset()` returns: its members are relative paths without `..`."""


@dataclass
class ModuleReads:
    """What a module reads: `paths` are artifact-relative files or directories (a directory stands for
    every file under it); `templates` the subset read by `templatefile` (their own calls are checked by
    `template_problems`); `modules` the local module directories reached; `unresolved` why a read could
    not be resolved, each naming the file, line and expression — non-empty means: widen the digest."""

    paths: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)
    modules: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)

    def widen(self, reason: str) -> None:
        if reason not in self.unresolved:
            self.unresolved.append(reason)


@dataclass
class _Scope:
    module_dir: str
    root_dir: str
    filename: str
    text: str
    local_exprs: dict[str, tuple[Any, str, str]]  # name → (expression tree, file name, file text)
    variables: dict[str, Value]
    iterators: dict[str, Value] = field(default_factory=dict)
    evaluating: frozenset[str] = frozenset()  # locals under evaluation (cycle guard)
    line: int | None = None  # the line of a heredoc whose expressions are walked (their `text`)
    workspace: str | None = None  # terraform.workspace, when known
    local_values: dict[str, Any] = field(default_factory=dict)  # evaluated locals of this module instance

    def with_iterators(self, names: Mapping[str, Value]) -> _Scope:
        return dataclasses.replace(self, iterators={**self.iterators, **names})

    def in_text(self, text: str, line: int | None) -> _Scope:
        return dataclasses.replace(self, text=text, line=line)


def _parse_hcl(text: str) -> Tree[Token]:
    """The syntax tree of HCL text. Not `hcl2.parses`: it builds a second, uncached parser (seconds on
    first use) for reconstruction, which we do not need; the tree is the same grammar's."""
    if _hcl2_parser is None:
        return hcl2.api.parses(text)
    return _hcl2_parser().parse(text + "\n")


# ---------------------------------------------------------------------------------------- entry points


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
    names: set[str] = set()
    for filename, text in files.items():
        if not _TFVARS.match(filename):
            continue
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


# ------------------------------------------------------------------------------------------ evaluation


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

    def _index_expr_term(self, node: Tree) -> Any:
        base = self.eval(node.children[0])
        index = next((c for c in node.children[1].children if isinstance(c, Tree)), None) \
            if isinstance(node.children[1], Tree) else None
        key = _concrete(self.eval(index)) if index is not None else None
        if isinstance(base, dict) and key in base:
            return base[key]
        if isinstance(base, list) and key is not None and key.isdigit() and int(key) < len(base):
            return base[int(key)]
        return Unknown(f"{_why(base)}[…]" if isinstance(base, Unknown) else "an index into a collection")

    def _object(self, node: Tree) -> Any:
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


# ------------------------------------------------------------------------------------------ paths


def _resolve(value: Any, scope: _Scope) -> str | tuple[None, str]:
    """The artifact-relative path (file or directory) a value denotes, or (None, why not)."""
    if isinstance(value, _FileSetValue):
        return (None, "it is a set of paths")
    if isinstance(value, list | dict):
        return (None, "it is a collection, not a path")
    parts = _as_parts(value)
    first_unknown = next((i for i, p in enumerate(parts) if isinstance(p, Unknown)), None)
    if first_unknown is None:
        return _artifact_relative("".join(p for p in parts if isinstance(p, str)), scope)
    unknown = parts[first_unknown]
    assert isinstance(unknown, Unknown)
    if not unknown.safe:
        return (None, f"the path depends on {unknown.why}")
    tail = parts[first_unknown + 1:]
    if any(isinstance(p, Unknown) and not p.safe for p in tail):
        bad = next(p for p in tail if isinstance(p, Unknown) and not p.safe)
        assert isinstance(bad, Unknown)
        return (None, f"the path depends on {bad.why}")
    if any(".." in p.split("/") for p in tail if isinstance(p, str)):
        return (None, "the path climbs ('..') after a computed part")
    prefix = "".join(p for p in parts[:first_unknown] if isinstance(p, str))
    directory = prefix[:-1] if prefix.endswith("/") else posixpath.dirname(prefix)
    return _artifact_relative(directory or ".", scope)


def _artifact_relative(path: str, scope: _Scope) -> str | tuple[None, str]:
    if path.startswith(_ARTIFACT + "/") or path == _ARTIFACT:
        rel = path[len(_ARTIFACT):]
    elif path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", path):
        return (None, f"it reads {path!r}, outside the artifact")
    else:
        rel = _join(scope.root_dir, path)  # relative paths: against the working directory (the root module)
    cleaned = posixpath.normpath(rel.lstrip("/") or ".")
    if cleaned == ".." or cleaned.startswith("../"):
        return (None, "the path leaves the artifact")
    return "" if cleaned == "." else cleaned


_WORD_END = re.compile(r"[\s\"'`;|&()<>,]")  # where a path inside a command line or list ends


def _path_segments(parts: tuple[Part, ...]) -> list[tuple[Part, ...]]:
    """The paths inside a string built from `path.*`: each runs from a `path.*` value to the end of its
    word, so `"${path.module}/run.sh ${var.arg}"` is the script's path and `var.arg` does not matter,
    while `"${path.module}/${var.f}"` is a path that depends on `var.f`. Text before `path.*`
    ("app-${path.module}") is not part of the path."""
    segments: list[list[Part]] = []
    current: list[Part] | None = None
    for part in parts:
        if isinstance(part, Unknown):
            if current is not None:
                current.append(part)
            continue
        text = part
        while text:
            if current is None:
                at = text.find(_ARTIFACT)
                if at < 0:
                    break
                current = []
                segments.append(current)
                text = text[at:]
            stop = _WORD_END.search(text)
            if stop is None:
                current.append(text)
                break
            current.append(text[:stop.start()])
            current = None
            text = text[stop.end():]
    return [_merge(segment) for segment in segments]


def _append(value: Any, suffix: str) -> Any:
    return _merge([*_as_parts(value), suffix])


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory and name else directory or name


# ------------------------------------------------------------------------------------------ tree helpers


def _as_parts(value: Any) -> tuple[Part, ...]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, Unknown):
        return (value,)
    if isinstance(value, _FileSetValue):
        return (Unknown("a set of paths"),)
    return (Unknown("a collection"),)


def _merge(parts: list[Part]) -> tuple[Part, ...]:
    """Adjacent literal parts joined; a value longer than any path (hostile doubling) becomes unknown."""
    if sum(len(p) for p in parts if isinstance(p, str)) > _MAX_TEXT:
        return (Unknown(f"a text longer than {_MAX_TEXT} characters"),)
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        elif isinstance(part, Unknown) and merged and isinstance(merged[-1], Unknown):
            if not part.safe:  # two unknowns in a row are one; an unsafe one makes the pair unsafe
                merged[-1] = part
        elif part != "":
            merged.append(part)
    if len(merged) > _MAX_PARTS:
        return (Unknown(f"a text of more than {_MAX_PARTS} computed parts"),)
    return tuple(merged) if merged else ("",)


def _concrete(value: Any) -> str | None:
    if isinstance(value, tuple) and all(isinstance(p, str) for p in value):
        return "".join(value)
    return None


def _why(value: Any) -> str:
    unknown = next((p for p in _as_parts(value) if isinstance(p, Unknown)), None)
    return unknown.why if unknown else "unknown"


def _unescape(text: str) -> str:
    out = text.replace("$${", "${").replace("%%{", "%{")
    return re.sub(r'\\(["\\nrt])', lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), out)


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
