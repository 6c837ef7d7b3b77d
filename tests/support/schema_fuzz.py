"""Objects of the project's kinds generated from the CRDs' own openAPIV3Schema with `hypothesis`, then
mutated, for the fuzz test (tests/integration/fuzz) and `benchmarks/fuzz.py` (issue 21, slice F); and
Terraform objects that reach real Terraform runs (`runnable_spec`, slice D: see its section below).

Why from the schemas: a hand-written list of bad specs covers what its author thought of. Walking the
schema (types, enums, patterns, bounds, required fields, `oneOf`, `x-kubernetes-preserve-unknown-fields`)
yields specs the API server accepts, in every shape the API allows; the mutations (a field removed, a
value replaced by one of another type or a hostile string, an unknown field added) then reach the
validation the API server does and, for what it lets through, the controllers' own parsing. Generation is
pure: nothing here talks to a cluster, so the same seed gives the same objects.
"""

from __future__ import annotations

import copy
import random
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


# ---------------------------------------------------------------- Terraform objects that reach a run
#
# Why a second generator: an object drawn from the schema names a GitRepository that does not exist, so it
# stops at SourceNotReady and nothing it holds reaches Terraform. These objects point at a real source
# (`FUZZ_SOURCE`, whose artifact holds `RUNNABLE_MODULE`) and keep every field the controller checks
# before a run well-formed, while the fields that reach Terraform (variables and their sources, path,
# workspace, backend, addresses, var files, CLI configuration, file mappings, modes, retry and timeout,
# environment) take values of the right shape and hostile ones. The test decides afterwards, against the
# cluster and the controller's log, what each object became.

FUZZ_SOURCE = "fuzz-src"
# Values only ever held in Secrets: none may appear in a log line, a status or an Event (design.md §4.7).
SECRET_VALUES = ("fz-s3cr3t-var-4f1c9e", "fz-s3cr3t-env-8b27d0", "fz-s3cr3t-file-c05a13", "fz-s3cr3t-out-91e6aa")

RUNNABLE_MODULE: dict[str, str] = {
    "main.tf": """
variable "s" {
  type    = string
  default = "x"
}
variable "n" {
  type    = number
  default = 1
}
variable "b" {
  type    = bool
  default = false
}
variable "l" {
  type    = list(string)
  default = []
}
variable "m" {
  type    = map(string)
  default = {}
}
variable "o" {
  type    = object({ a = string, b = optional(number, 0) })
  default = { a = "a" }
}
variable "anything" {
  type    = any
  default = null
}
variable "token" {
  type      = string
  default   = "none"
  sensitive = true
}
variable "checked" {
  type    = string
  default = "ok"
  validation {
    condition     = length(var.checked) < 10
    error_message = "checked must be shorter than 10 characters."
  }
}

resource "terraform_data" "this" {
  input = { s = var.s, n = var.n, b = var.b, l = var.l, m = var.m, o = var.o, checked = var.checked }
}

resource "terraform_data" "keyed" {
  for_each = toset(var.l)
  input    = each.key
}

output "echo" {
  value = terraform_data.this.output.s
}

output "token" {
  value     = var.token
  sensitive = true
}
""",
    "sub/main.tf": 'variable "s" {\n  type = string\n}\nresource "terraform_data" "sub" {\n  input = var.s\n}\n'
                   'output "echo" {\n  value = terraform_data.sub.output\n}\n',
    "vars/good.tfvars": 's = "from-file"\nn = 7\nl = ["p", "q"]\n',
    "vars/good.tfvars.json": '{"m": {"k": "v"}, "o": {"a": "z", "b": 3}}\n',
    "vars/wrong-type.tfvars": 'n = "not a number"\n',
    "vars/broken.tfvars": 's = "unterminated\n',
    "vars/undeclared.tfvars": 'nobody = "declares me"\n',
    "vars/broken.tfvars.json": '{"s": \n',
    "notes/README.md": "no Terraform here\n",
    # modules `path` may name besides the root: JSON syntax, a broken JSON one, a broken automatic variables
    # file, a provider the mirror does not hold, a module call that leaves the artifact
    "json/main.tf.json": '{"variable": {"s": {"type": "string", "default": "j"}}, '
                         '"resource": {"terraform_data": {"j": {"input": "${var.s}"}}}}\n',
    "json-broken/main.tf.json": '{"resource": {"terraform_data": \n',
    "auto-broken/main.tf": 'variable "s" {\n  type = string\n}\nresource "terraform_data" "a" {\n  input = var.s\n}\n',
    "auto-broken/x.auto.tfvars.json": '{"s": "a"} trailing\n',
    "auto-ok/main.tf": 'variable "s" {\n  type = string\n}\nresource "terraform_data" "a" {\n  input = var.s\n}\n',
    "auto-ok/terraform.tfvars": 's = "from terraform.tfvars"\n',
    "no-provider/main.tf": 'terraform {\n  required_providers {\n    nope = {\n      source = "example.invalid/x/nope"\n'
                           '    }\n  }\n}\nresource "nope_thing" "x" {}\n',
    "escaping-call/main.tf": 'module "up" {\n  source = "../../../../etc"\n}\n',
}


def runnable_fixtures(namespace: str = "default") -> list[dict[str, Any]]:
    """The Secrets and ConfigMaps the runnable objects read (vars, env, CLI configuration, file mappings):
    distinctive secret values (`SECRET_VALUES`) beside values of the wrong type, invalid JSON, a NUL byte,
    bytes that are not UTF-8 and HCL-looking text."""
    import base64

    def data(values: dict[str, bytes | str]) -> dict[str, str]:
        return {k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for k, v in values.items()}

    secret_data: dict[str, bytes | str] = {
        "token": SECRET_VALUES[0], "s": SECRET_VALUES[0], "n": "42", "l": '["a", "b"]', "bad_json": "[1,",
        "nul": "a\0b", "binary": b"\xff\xfe\x00\x80", "API_KEY": SECRET_VALUES[1],
        "netrc": f"machine example.invalid login u password {SECRET_VALUES[2]}\n",
        "terraform.tfrc": "disable_checkpoint = true\n", "bad.tfrc": "provider_installation {\n",
        "hostile.tfrc": 'provider_installation {\n  direct {}\n}\nplugin_cache_dir = "/"\n',
    }
    config_data = {"s": "ünïcødé ✓ \u202e", "n": "not a number", "m": '{"k": "v"}', "o": '{"a": "x", "b": 2}',
                   "hcl": "${var.s} %{ if true }x%{ endif }", "l": "[[1]]", "anything": '{"deep": [[[[{}]]]]}'}
    meta = {"namespace": namespace}
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": {**meta, "name": "fuzz-secret"},
             "data": data(secret_data)},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {**meta, "name": "fuzz-env"},
             "data": data({"API_KEY": SECRET_VALUES[1], "OTHER": "plain"})},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": "fuzz-cm"}, "data": config_data}]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


_VAR_NAMES = ("s", "n", "b", "l", "m", "o", "anything", "token", "checked", "undeclared_one", "TF_x")
_ODD_VALUES: tuple[Any, ...] = (
    "", "ünïcødé ✓", "\u0000", "a\u0000b", "${var.s}", "%{ for x in [1] }${x}%{ endfor }", "${file(\"/etc/passwd\")}",
    'a"b\\c', "\n\n", "x" * 100_000, 1e308, -0.0, 2**63, -(2**63) - 1, 0.1, True, None, [], {}, [1, "a", None],
    {"a": "x", "b": "not a number"}, {"a": "x", "extra": 1}, {"k": {"nested": 1}}, _nested(40),
    ["a", "b", "a"], "0123456789ten+", 'EOF\n<<EOT\n', "-var=x", "plan-main-0000000000-00000000",
)
_GOOD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "s": st.text(max_size=30), "n": st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6)),
    "b": st.booleans(), "l": st.lists(st.text("abc", min_size=1, max_size=3), max_size=3, unique=True),
    "m": st.dictionaries(st.text("abc", min_size=1, max_size=3), st.text(max_size=5), max_size=3),
    "o": st.fixed_dictionaries({"a": st.text(max_size=5)}, optional={"b": st.integers(0, 9)}),
    "anything": _JSON, "token": st.just("literal-token"), "checked": st.sampled_from(("ok", "far too long a value")),
}
_REF_KEYS = ("token", "s", "n", "l", "bad_json", "nul", "binary", "missing-key", "API_KEY")
_CM_KEYS = ("s", "n", "m", "o", "hcl", "l", "anything", "missing-key")


@st.composite
def _var(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.sampled_from(_VAR_NAMES))
    form = draw(st.sampled_from(("good", "good", "odd", "secret", "configmap")))
    if form == "good":
        return {"name": name, "value": draw(_GOOD_VALUES.get(name, _JSON))}
    if form == "odd":
        return {"name": name, "value": draw(st.sampled_from(_ODD_VALUES))}
    if form == "secret":
        ref = {"name": "fuzz-secret", "key": draw(st.sampled_from(_REF_KEYS))}
        return {"name": name, "valueFrom": {"secretKeyRef": {**ref, **draw(st.sampled_from(({}, {"optional": True})))}}}
    return {"name": name, "valueFrom": {"configMapKeyRef": {"name": "fuzz-cm", "key": draw(st.sampled_from(_CM_KEYS))}}}


def _unique(items: list[dict[str, Any]], key: str = "name") -> list[dict[str, Any]]:
    seen: dict[Any, dict[str, Any]] = {}
    for item in items:
        seen.setdefault(item.get(key), item)
    return list(seen.values())


_VARS_FROM = st.one_of(
    st.just({"kind": "Secret", "name": "fuzz-secret", "keys": ["token"]}),
    st.just({"kind": "Secret", "name": "fuzz-secret", "keys": ["n", "l"]}),
    st.just({"kind": "Secret", "name": "fuzz-secret", "keys": ["nul"]}),
    st.just({"kind": "Secret", "name": "fuzz-secret", "keys": ["binary"]}),
    st.just({"kind": "Secret", "name": "fuzz-secret"}),  # every key: most are not variables of the module
    st.just({"kind": "ConfigMap", "name": "fuzz-cm"}),
    st.just({"kind": "ConfigMap", "name": "fuzz-cm", "keys": ["m", "o"]}),
    st.just({"kind": "ConfigMap", "name": "fuzz-absent", "optional": True}),
    st.just({"kind": "Secret", "name": "fuzz-absent"}),
)
_ENV = st.one_of(
    st.just({"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "fuzz-env", "key": "API_KEY"}}}),
    st.builds(lambda n, v: {"name": n, "value": v},
              st.sampled_from(("TF_VAR_s", "TF_VAR_n", "TF_VAR_token", "TF_LOG", "TF_CLI_ARGS_plan", "TF_WORKSPACE",
                               "HOME", "PATH", "LANG", "AWS_REGION", "X", "lower_case", "TF_REGISTRY_DISCOVERY_RETRY",
                               "TF_PLUGIN_TIMEOUT", "CHECKPOINT_DISABLE")),
              st.sampled_from(("", "1", "ünïcødé", "-no-color", "/nonexistent", "not a number", "x" * 5000, "a\0b"))),
)
_ADDRESSES = ("terraform_data.this", "terraform_data.missing", 'terraform_data.keyed["a"]', "terraform_data.keyed[0]",
              "module.nowhere.terraform_data.x", "data.terraform_remote_state.x", "terraform_data", "not an address!",
              "terraform_data.this.input", 'terraform_data.keyed["ü\\"x"]', "output.echo")
_BACKENDS = (
    {"secretSuffix": "fuzz"}, {"secretSuffix": "a" * 63}, {"secretSuffix": "Bad_Suffix"}, {"secretSuffix": ""},
    {"customConfiguration": 'backend "local" {\n  path = "fuzz.tfstate"\n}'},
    {"customConfiguration": 'backend "local" {'}, {"customConfiguration": 'backend "nonexistent" {}'},
    {"customConfiguration": 'terraform {\n  backend "local" {}\n}'},
    {"customConfiguration": 'backend "local" {\n  path = "/etc/passwd"\n}'},
    {"customConfiguration": 'backend "local" {}\nbackend "local" {}'},
    {"customConfiguration": 'backend "local" {\n  bogus_attribute = 1\n}'},
    {"customConfiguration": 'backend "kubernetes" {\n  secret_suffix = "x"\n}'},
)
_VAR_FILES = ("../vars/good.tfvars", "vars/good.tfvars", "vars/good.tfvars.json", "vars/wrong-type.tfvars",
              "vars/broken.tfvars", "vars/undeclared.tfvars", "vars/broken.tfvars.json", "vars/missing.tfvars",
              "main.tf", "../../x.tfvars", "/etc/x.tfvars", ".tfvars")
_FILE_MAPPINGS = (
    {"location": "home", "path": ".netrc", "secretKeyRef": {"name": "fuzz-secret", "key": "netrc"}},
    {"location": "workingDir", "path": "extra.auto.tfvars", "secretKeyRef": {"name": "fuzz-secret", "key": "netrc"}},
    {"location": "workingDir", "path": "secret.tf", "secretKeyRef": {"name": "fuzz-secret", "key": "bad_json"}},
    {"location": "workingDir", "path": "override.tf", "secretKeyRef": {"name": "fuzz-secret", "key": "token"}},
    {"location": "home", "path": ".ssh/id_ed25519", "secretKeyRef": {"name": "fuzz-secret", "key": "missing-key"}},
    {"location": "home", "path": "../escape", "secretKeyRef": {"name": "fuzz-secret", "key": "token"}},
    {"location": "home", "path": ".terraformrc", "secretKeyRef": {"name": "fuzz-secret", "key": "token"}},
    {"location": "workingDir", "path": "main.tf", "secretKeyRef": {"name": "fuzz-secret", "key": "binary"}},
)


# Each field that reaches Terraform: (well-formed values, hostile values). An object takes a few fields
# hostile and a few others well-formed, so that most objects still reach a run with something odd in it.
_FIELDS: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {
    "path": ((".", "./", "sub", "./sub/", "sub/../sub", "json", "auto-ok"),
             ("vars", "notes", "missing", "main.tf", "a b", "ü", "sub//", "json-broken", "auto-broken", "no-provider",
              "escaping-call", "../outside", "/abs", "sub\\x", "x" * 300)),
    "workspace": (("default", "dev", "prod-1", "a" * 63), ("Upper", "-x", "x_y", "", "a" * 64)),
    "backendConfig": (({"secretSuffix": "fuzz"}, {"customConfiguration": 'backend "local" {\n  path = "fuzz.tfstate"\n}'}),
                      tuple(b for b in _BACKENDS if b.get("secretSuffix") != "fuzz")),
    "targets": ((["terraform_data.this"], ['terraform_data.keyed["a"]']),
                tuple([a] for a in _ADDRESSES[1:]) + (["terraform_data.this", "terraform_data.this"],)),
    "replace": ((["terraform_data.this"],), tuple([a] for a in _ADDRESSES[1:])),
    "tfVarsFiles": ((["../vars/good.tfvars"], ["vars/good.tfvars.json"], ["vars/good.tfvars", "vars/good.tfvars.json"]),
                    tuple([f] for f in _VAR_FILES[3:])),
    "cliConfigSecretRef": (({"name": "fuzz-secret"},),
                           ({"name": "fuzz-secret", "key": "bad.tfrc"}, {"name": "fuzz-secret", "key": "hostile.tfrc"},
                            {"name": "fuzz-secret", "key": "missing-key"}, {"name": "fuzz-absent"})),
    "fileMappings": (([_FILE_MAPPINGS[0]],), tuple([m] for m in _FILE_MAPPINGS[1:])),
    "envFrom": (([{"kind": "Secret", "name": "fuzz-env"}],),
                ([{"kind": "ConfigMap", "name": "fuzz-cm"}], [{"kind": "Secret", "name": "fuzz-absent"}])),
    "destroy": ((False,), (True,)),
    "planOnly": ((False,), (True,)),
    "remediation": (({"retries": 2},), ({"retries": 0}, {"retries": 1000})),
    "retryInterval": (("5s", "30s", "1m"), ("0s", "1ms", "99999h", "2562048h")),
    "timeout": (("5m", "1h"), ("1s", "0s", "1ms", "99999h")),
    "parallelism": ((1, 2), (256,)),
    "runnerPod": (({},), ({"serviceAccountName": "nobody"}, {"image": "ghcr.io/nowhere/none:0"},
                          {"resources": {"limits": {"memory": "1Ki"}}}, {"nodeSelector": {"a": "b"}})),
}


@st.composite
def runnable_spec(draw: st.DrawFn, source: str = FUZZ_SOURCE) -> dict[str, Any]:
    """A Terraform spec that names `source` and reaches a run unless one of its mutated fields is refused:
    0-3 fields hostile, a few others well-formed, `vars`, `varsFrom` and `env` drawn per entry (a good
    value of the declared type, an odd value, a Secret or ConfigMap key)."""
    # choices from a Random seeded by one draw: hypothesis's own draws lean to the simplest value (every field
    # present), a seeded Random spreads them as the weights say, and stays reproducible for the same seed
    rnd = random.Random(draw(st.integers(0, 2**64)))
    spec: dict[str, Any] = {"sourceRef": {"kind": "GitRepository", "name": source}, "interval": "1h",
                            "approvePlan": rnd.choice(("auto", "auto", "auto", "auto", "",
                                                       "plan-main-0123456789-abcdef01"))}
    if rnd.random() < 0.85:
        spec["vars"] = _unique(draw(st.lists(_var(), min_size=1, max_size=4)))
    if rnd.random() < 0.2:
        spec["varsFrom"] = draw(st.lists(_VARS_FROM, min_size=1, max_size=2))
    if rnd.random() < 0.2:
        spec["env"] = _unique(draw(st.lists(_ENV, min_size=1, max_size=2)))
    names = sorted(_FIELDS)
    hostile = set(rnd.sample(names, rnd.choice((0, 1, 1, 1, 2, 2, 3))))
    for name in names:
        good, bad = _FIELDS[name]
        if name in hostile:
            spec[name] = copy.deepcopy(rnd.choice(bad))
        elif rnd.random() < 0.15:
            spec[name] = copy.deepcopy(rnd.choice(good))
    return spec


def generate_runnable(count: int, seed: int, namespace: str = "default", source: str = FUZZ_SOURCE,
                      prefix: str = "fuzz-tf") -> list[dict[str, Any]]:
    """`count` Terraform objects from `runnable_spec` (names `<prefix>-<i>`), the same list for the same seed."""
    objs = _draw(runnable_spec(source).map(lambda s: {
        "apiVersion": "tfcontroller.io/v1alpha1", "kind": "Terraform",
        "metadata": {"name": "placeholder", "namespace": namespace}, "spec": s}), count, seed)
    for i, obj in enumerate(objs):
        obj["metadata"]["name"] = f"{prefix}-{i}"
    return objs
