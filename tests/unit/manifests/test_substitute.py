"""Variable substitution: ${VAR}, defaults, escapes, the opt-out annotation, missing-variable errors, and
the type a substituted value takes from its placement (quoted or not, plain files or kustomize)."""

import pytest
import yaml

from tfcontroller.manifests.substitute import SubstitutionError, substitute_object, substitute_string


def sub(text: str, variables: dict[str, str]) -> str:
    missing: list[str] = []
    out = substitute_string(text, variables, missing)
    assert not missing
    return out


def test_plain_and_default_forms() -> None:
    assert sub("s3://${bucket}/x", {"bucket": "b1"}) == "s3://b1/x"
    assert sub("${region:=us-east-1}", {}) == "us-east-1"
    assert sub("${region:-eu-west-1}", {}) == "eu-west-1"
    assert sub("${region:=us-east-1}", {"region": "ap-south-1"}) == "ap-south-1"
    assert sub("${empty:=}", {}) == ""


def test_escape_leaves_reference() -> None:
    assert sub("$${HOME} and ${a}", {"a": "1"}) == "${HOME} and 1"
    assert sub("$${x:=y}", {}) == "${x:=y}"


def test_missing_variable_names_it_and_the_object() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "${nope}", "b": "${also}"}}
    with pytest.raises(SubstitutionError) as err:
        substitute_object(obj, {})
    assert err.value.missing == ["also", "nope"]
    assert "ConfigMap/cfg" in str(err.value)
    assert "nope" in str(err.value)


def test_walks_nested_strings_only() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"env": [{"name": "Q", "value": "${q}"}]}]}}},
    }
    out = substitute_object(obj, {"q": "https://sqs/queue"})
    assert out["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "https://sqs/queue"
    assert out["spec"]["replicas"] == 2
    assert obj["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "${q}"  # input untouched


def test_disabled_annotation_skips_object() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "raw", "annotations": {"tfcontroller.io/substitute": "disabled"}},
        "data": {"script": "echo ${HOME}"},
    }
    assert substitute_object(obj, {}) == obj


# --- typing: the value's type follows its placement --------------------------------
# General rule: a reference inside a quoted/block scalar inserts the value verbatim (always a string);
# a reference in a plain scalar gives the scalar the type its whole substituted text has as one
# single-line YAML 1.2 scalar — and never YAML structure.

OUTPUTS = {
    "replicas": "3", "port": "8080", "account_id": "0999991", "octal_looking": "0755", "zero": "0",
    "negative": "-2", "ratio": "0.5", "exp": "1e3", "enabled": "true", "off": "False", "yes": "yes",
    "no": "NO", "null_word": "null", "tilde": "~", "empty": "", "tag": "1.2.3", "multi": "line one\nline two",
    "mapping": "a: b", "flow": "{x: 1}", "seq": "- x", "comment": "value # not a comment",
    "json_list": '["a","b"]', "quote": '"', "id": "123", "inf": ".inf", "spaces": " 3 ",
    "quoted_yaml": "'it''s'", "injection": '"x"\nkind: Secret',
}


def render_and_substitute(tmp_path, text: str, variables: dict[str, str] = OUTPUTS) -> dict:
    from tfcontroller.manifests.render import render

    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "obj.yaml").write_text(text)
    [rendered] = render(tmp_path, "m")
    return substitute_object(rendered.obj, variables)


def cm_data(tmp_path, lines: str) -> dict:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n" + lines
    return render_and_substitute(tmp_path, text)["data"]


@pytest.mark.parametrize(("value", "want"), [
    ("${replicas}", 3), ("${port}", 8080), ("${zero}", 0), ("${negative}", -2),
    ("${ratio}", 0.5), ("${exp}", 1000.0),
    ("${enabled}", True), ("${off}", False),
    ("${null_word}", None), ("${tilde}", None), ("${empty}", None), ("${empty:=}", None),
    ("${missing:=7}", 7), ("${missing:-x}", "x"),
    # leading zeros keep their digits (no octal, no float): account ids, file modes
    ("${account_id}", "0999991"), ("${octal_looking}", "0755"),
    # YAML 1.1 booleans stay words (the Norway problem)
    ("${yes}", "yes"), ("${no}", "NO"),
    # not one plain scalar: the literal text, never structure
    ("${multi}", "line one\nline two"), ("${mapping}", "a: b"), ("${flow}", "{x: 1}"), ("${seq}", "- x"),
    ("${comment}", "value # not a comment"), ("${json_list}", '["a","b"]'), ("${inf}", ".inf"),
    ("${spaces}", " 3 "), ("${injection}", '"x"\nkind: Secret'),
    # a reference inside a larger plain scalar: the whole text is typed
    ("repo:${tag}", "repo:1.2.3"), ("${replicas}${port}", 38080), ("v${replicas}", "v3"),
    # Flux's ${quote} idiom and a whole quoted YAML scalar as the value
    ("${quote}${id}${quote}", "123"), ("${quoted_yaml}", "it's"),
    # escapes stay literal text
    ("$${replicas}", "${replicas}"),
])
def test_unquoted_reference_takes_the_type_of_its_value(tmp_path, value: str, want: object) -> None:
    got = cm_data(tmp_path, f"  k: {value}\n")["k"]
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("placement", ['"{}"', "'{}'", "|-\n    {}", ">-\n    {}"])
@pytest.mark.parametrize("name", ["replicas", "account_id", "enabled", "null_word", "empty", "yes", "flow"])
def test_quoted_and_block_references_stay_strings(tmp_path, placement: str, name: str) -> None:
    got = cm_data(tmp_path, "  k: " + placement.format("${" + name + "}") + "\n")["k"]
    assert got == OUTPUTS[name] and type(got) is str


def test_multi_line_value_in_a_block_scalar_is_kept_verbatim(tmp_path) -> None:
    got = cm_data(tmp_path, "  k: |\n    first\n    ${multi}\n")["k"]
    assert got == "first\nline one\nline two\n"


def test_values_cannot_inject_structure_or_other_objects(tmp_path) -> None:
    obj = render_and_substitute(tmp_path, (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    a: ${mapping}\n"
        "data:\n  x: ${injection}\n  y: \"${injection}\"\n  z: ${flow}\n"
    ))
    assert obj["metadata"] == {"name": "c", "labels": {"a": "a: b"}}
    assert obj["data"] == {"x": '"x"\nkind: Secret', "y": '"x"\nkind: Secret', "z": "{x: 1}"}
    assert obj["kind"] == "ConfigMap"


def test_deployment_numbers_become_integers(tmp_path) -> None:
    """The report's input: replicas and containerPort unquoted, the account id quoted."""
    dep = render_and_substitute(tmp_path, (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n"
        "  annotations:\n    account: \"${account_id}\"\n    replicas-text: '${replicas}'\n"
        "spec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: d}\n  template:\n"
        "    metadata:\n      labels: {app: d}\n    spec:\n      containers:\n      - name: c\n"
        "        image: repo/app:${tag}\n        ports:\n        - containerPort: ${port}\n"
        "        env:\n        - {name: A, value: \"${account_id}\"}\n"
    ))
    assert dep["spec"]["replicas"] == 3
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == 8080
    assert container["image"] == "repo/app:1.2.3"
    assert container["env"][0]["value"] == "0999991"
    assert dep["metadata"]["annotations"] == {"account": "0999991", "replicas-text": "3"}


def test_keys_stay_strings_and_markers_do_not_leak(tmp_path) -> None:
    from tfcontroller.manifests.substitute import Unquoted, plain_strings

    data = cm_data(tmp_path, "  ${replicas}: ${tag}\n")
    assert data == {"3": "1.2.3"}
    assert all(type(k) is str and type(v) is str for k, v in data.items())
    left = plain_strings({"a": [Unquoted("${x}")], Unquoted("${k}"): 1})
    assert type(left["a"][0]) is str and all(type(k) is str for k in left)


def test_json_strings_are_quoted(tmp_path) -> None:
    from tfcontroller.manifests.render import render

    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "o.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}, "data": {"n": "${replicas}"}}'
    )
    [rendered] = render(tmp_path, "j")
    assert substitute_object(rendered.obj, OUTPUTS)["data"]["n"] == "3"


def test_disabled_annotation_keeps_references_as_plain_strings(tmp_path) -> None:
    obj = render_and_substitute(tmp_path, (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
        "  annotations: {tfcontroller.io/substitute: disabled}\ndata:\n  k: ${replicas}\n"
    ))
    assert obj["data"]["k"] == "${replicas}" and type(obj["data"]["k"]) is str


def test_through_kustomize_quoted_references_still_stay_strings(tmp_path) -> None:
    """kustomize drops the sources' quotes; the references in quoted scalars are marked before the build,
    so the placement rule holds through kustomize (bases, patches), and Flux's `${quote}` idiom still works."""
    from tfcontroller.manifests.render import render

    (tmp_path / "base").mkdir()
    (tmp_path / "k").mkdir()
    (tmp_path / "base" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  annotations:\n    n: ${replicas}\n"
        "    s: \"${replicas}\"\n    t: '${enabled}'\ndata:\n  account: \"${account_id}\"\n"
        "  id: ${quote}${id}${quote}\n  image: repo:${tag}\n  block: |\n    port=${port}\n"
        "  escaped: \"$${replicas}\"\n"
    )
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tmp_path / "k" / "patch.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\n  labels:\n    port: \"${port}\"\n"
    )
    (tmp_path / "k" / "kustomization.yaml").write_text(
        "resources: [../base]\npatches:\n- path: patch.yaml\n"
        "- patch: |-\n    apiVersion: v1\n    kind: ConfigMap\n    metadata:\n      name: k\n      annotations:\n"
        "        inline: ${port}\n"
    )
    [rendered] = render(tmp_path, "k", mark_quoted=True)
    obj = substitute_object(rendered.obj, OUTPUTS)
    assert obj["metadata"]["annotations"] == {"n": 3, "s": "3", "t": "true", "inline": 8080}
    assert obj["metadata"]["labels"] == {"port": "8080"}
    assert obj["data"] == {"account": "0999991", "id": "123", "image": "repo:1.2.3", "block": "port=8080\n",
                           "escaped": "${replicas}"}


def test_marking_quoted_references_keeps_the_yaml_and_skips_plain_ones() -> None:
    from tfcontroller.manifests.substitute import QUOTED_MARK, mark_quoted_references

    m = "${" + QUOTED_MARK
    text = ("a: ${x}\nb: \"${x} and $${y}\"\nc: '${x}'\nd: |\n  ${x}\ne: [\"${x}\", '${y}']\n"
            "\"${k}\": v\n---\nf: >\n  ${z}\n")
    marked = mark_quoted_references(text)
    assert marked == (f"a: ${{x}}\nb: \"{m}x}} and $${{y}}\"\nc: '{m}x}}'\nd: |\n  {m}x}}\n"
                      f"e: [\"{m}x}}\", '{m}y}}']\n\"{m}k}}\": v\n---\nf: >\n  {m}z}}\n")
    assert [list(d) for d in yaml.safe_load_all(marked)] == [list(d) for d in yaml.safe_load_all(text.replace("${k}", m + "k}"))]
    assert mark_quoted_references("a: [unclosed ${x}") == "a: [unclosed ${x}"
    assert mark_quoted_references("plain: text") == "plain: text"


def test_marked_references_left_unsubstituted_lose_their_mark(tmp_path) -> None:
    from tfcontroller.manifests.substitute import QUOTED_MARK

    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "c", "annotations": {"tfcontroller.io/substitute": "disabled"}},
           "data": {"k": "${" + QUOTED_MARK + "x}"}}
    assert substitute_object(obj, {})["data"]["k"] == "${x}"
    with pytest.raises(SubstitutionError) as err:
        substitute_object({**obj, "metadata": {"name": "c"}}, {})
    assert err.value.missing == ["x"]
