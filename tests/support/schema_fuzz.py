"""Objects of the project's kinds generated from the CRDs' own openAPIV3Schema with `hypothesis`, then
mutated, for the fuzz test (tests/integration/fuzz) and `benchmarks/fuzz.py` (issue 21, slice F).

Why from the schemas: a hand-written list of bad specs covers what its author thought of. Walking the
schema (types, enums, patterns, bounds, required fields, `oneOf`, `x-kubernetes-preserve-unknown-fields`)
yields specs the API server accepts, in every shape the API allows; the mutations (a field removed, a
value replaced by one of another type or a hostile string, an unknown field added) then reach the
validation the API server does and, for what it lets through, the controllers' own parsing. Generation is
pure: nothing here talks to a cluster, so the same seed gives the same objects.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tests.support.paths import REPO_ROOT

Schema = dict[str, Any]
MAX_DEPTH = 6  # below this, objects and arrays are left empty: enough to reach every field of our kinds
_NAME = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z", fullmatch=True)
_NAMES = st.one_of(_NAME, st.just("fuzz-src"))

# Values that have broken parsers elsewhere: traversal, absurd durations, templates, control and wide
# characters, huge numbers, and strings the controller might pass on to Terraform, git or a shell.
HOSTILE_STRINGS = (
    "", " ", "../../etc/passwd", "/etc/shadow", "0s", "-1s", "1.5", "99999999999h", "1e308", "NaN",
    "${var.x}", "$(id)", "`id`", "a" * 300, "\u0000", "\x1b[31m", "ünïcødé ✓", "plan-main-0000000000-00000000",
    "git@host:x", "file:///etc", "http://127.0.0.1:1/", "ssh://127.0.0.1:1/x", "-rf", "*", "\\\\", "\n\n",
)
_HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40), st.sampled_from(HOSTILE_STRINGS),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=20)),
                     lambda inner: st.one_of(st.lists(inner, max_size=3),
                                             st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)


def load_crds(root: Path = REPO_ROOT) -> dict[str, tuple[str, Schema]]:
    """kind → (plural, openAPIV3Schema of the served version) for every CRD in crds/."""
    kinds: dict[str, tuple[str, Schema]] = {}
    for path in sorted((root / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            names, version = doc["spec"]["names"], doc["spec"]["versions"][0]
            kinds[names["kind"]] = (names["plural"], version["schema"]["openAPIV3Schema"])
    return kinds


def from_schema(schema: Schema, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values valid under `schema` (structural subset the CRDs use; CEL rules are left to the server)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if schema.get("x-kubernetes-preserve-unknown-fields") and "type" not in schema:
        return _JSON
    if "oneOf" in schema or "anyOf" in schema:
        return _one_of(schema, depth)
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, depth)
    if kind == "array":
        return _array(schema, depth)
    return _scalar(schema, kind)


def _one_of(schema: Schema, depth: int) -> st.SearchStrategy[Any]:
    """`oneOf: [{required: [a]}, {required: [b]}]` beside `properties`: one branch's required fields."""
    base = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
    branches = schema.get("oneOf") or schema.get("anyOf") or []
    options = [from_schema({**base, "required": sorted(set(base.get("required", [])) | set(b.get("required", [])))},
                           depth) for b in branches]
    return st.one_of(options) if options else from_schema(base, depth)


def _object(schema: Schema, depth: int) -> st.SearchStrategy[Any]:
    props: dict[str, Schema] = schema.get("properties") or {}
    if not props:
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and depth < MAX_DEPTH:
            return st.dictionaries(_NAME, from_schema(extra, depth + 1), max_size=3)
        return _JSON if schema.get("x-kubernetes-preserve-unknown-fields") else st.just({})
    if depth >= MAX_DEPTH:
        return st.just({})
    required = [k for k in schema.get("required", []) if k in props]
    optional = [k for k in props if k not in required]
    return st.fixed_dictionaries({k: from_schema(props[k], depth + 1) for k in required},
                                 optional={k: from_schema(props[k], depth + 1) for k in optional})


def _array(schema: Schema, depth: int) -> st.SearchStrategy[Any]:
    if depth >= MAX_DEPTH:
        return st.just([])
    items = from_schema(schema.get("items") or {}, depth + 1)
    low, high = schema.get("minItems", 0), min(schema.get("maxItems", 3), 3)
    keys = schema.get("x-kubernetes-list-map-keys")
    if keys or schema.get("x-kubernetes-list-type") == "set":
        key: Callable[[Any], Any] = (lambda v: tuple(str((v or {}).get(k)) for k in keys)) if keys else repr
        return st.lists(items, min_size=low, max_size=max(low, high), unique_by=key)
    return st.lists(items, min_size=low, max_size=max(low, high))


def _scalar(schema: Schema, kind: str | None) -> st.SearchStrategy[Any]:
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "string":
        return _string(schema)
    return _JSON  # untyped: anything (e.g. a variable's value)


def _string(schema: Schema) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 253)
    if schema.get("format") == "date-time":
        return st.just("2026-01-02T03:04:05Z")
    if "pattern" in schema:
        pattern = schema["pattern"]
        text = st.from_regex(pattern, fullmatch=pattern.startswith("^") and pattern.endswith("$"))
        return text.filter(lambda s: low <= len(s) <= high)
    return st.one_of(_NAMES, st.text(min_size=low, max_size=max(low, min(high, 40)))).filter(
        lambda s: low <= len(s) <= high)


# ---------------------------------------------------------------- mutations


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value` (dict keys and list indexes), the root excluded."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _apply(spec: Any, path: tuple[Any, ...], how: str, new: Any) -> None:
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = new
    elif how == "add" and isinstance(parent[last], dict):
        parent[last]["fuzzUnknownField"] = new


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], max_mutations: int = 3) -> dict[str, Any]:
    """A valid spec from `valid` with 0..max_mutations mutations (delete, replace by a hostile value, add)."""
    spec = copy.deepcopy(draw(valid))
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = _paths(spec)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        _apply(spec, path, draw(st.sampled_from(("delete", "replace", "replace", "add"))), draw(_HOSTILE))
    return spec


def objects(kind: str, plural_schema: tuple[str, Schema], namespace: str = "default") -> st.SearchStrategy[dict[str, Any]]:
    """Whole objects of `kind` (apiVersion, kind, metadata with a placeholder name, mutated spec)."""
    _, schema = plural_schema
    spec = mutated(from_schema(schema["properties"]["spec"]))
    return spec.map(lambda s: {"apiVersion": "tfcontroller.io/v1alpha1", "kind": kind,
                               "metadata": {"name": "placeholder", "namespace": namespace}, "spec": s})


_REMOTE = re.compile(r"^(https?|ssh|git)://([^/?#@\s]*@)?[A-Za-z0-9.-]+(:[0-9]*)?(?=[/?#]|$)")
_SCP = re.compile(r"^([A-Za-z0-9._~-]+)@[A-Za-z0-9.-]+:")


def hermetic(value: Any) -> Any:
    """`value` with every URL host that could be resolved (scheme://host, user@host:) replaced by a closed
    loopback port: a fuzz run must not reach the network (a random name may exist, a blackholed one hangs a
    fetch). Hosts that cannot be names (whitespace, odd characters) stay, for the parsers to judge."""
    if isinstance(value, str):
        return _SCP.sub(r"\1@127.0.0.1:", _REMOTE.sub(r"\1://\g<2>127.0.0.1:1", value))
    if isinstance(value, dict):
        return {k: hermetic(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hermetic(v) for v in value]
    return value


def generate(count: int, seed: int, namespace: str = "default") -> list[dict[str, Any]]:
    """`count` objects, as many of each kind (interleaved), the same list for the same seed (names
    `fuzz-<kind>-<i>`), every URL pointed at loopback (`hermetic`). Each kind is drawn on its own: one `one_of` over the kinds would favour the
    kinds hypothesis finds simplest.

    Hypothesis runs here as a generator only (no database, no shrinking): the test decides afterwards,
    against the cluster, what each object should have become."""
    crds = load_crds()
    kinds = sorted(crds)
    per_kind = -(-count // len(kinds))
    drawn = {kind: _draw(objects(kind, crds[kind], namespace), per_kind, seed) for kind in kinds}
    mixed = [drawn[kind][i] for i in range(per_kind) for kind in kinds if i < len(drawn[kind])][:count]
    for i, obj in enumerate(mixed):
        obj["metadata"]["name"] = f"fuzz-{obj['kind'].lower()}-{i}"
        obj["spec"] = hermetic(obj["spec"])
    return mixed


def _draw(strategy: st.SearchStrategy[dict[str, Any]], count: int, seed: int) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(strategy)
    def collect(obj: dict[str, Any]) -> None:
        drawn.append(copy.deepcopy(obj))

    collect()
    return drawn
