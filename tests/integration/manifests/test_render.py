"""Rendering with real kustomize (kubectl's built-in) and plain YAML directories, on the seed-article layout."""

import shutil
from pathlib import Path

import pytest

from tests.support.paths import REPO_ROOT
from tfcontroller.manifests.render import KustomizeConfig, RenderError, render

EXAMPLES = REPO_ROOT / "examples"


def test_seed_overlays_render_with_kustomize() -> None:
    for env, replicas, level in (("development", 1, "debug"), ("staging", 2, "info"), ("production", 3, "info")):
        objs = render(EXAMPLES, f"apps/sample-app/overlays/{env}")
        by_kind = {o.obj["kind"]: o.obj for o in objs}
        assert set(by_kind) == {"ConfigMap", "Service", "Deployment"}
        assert by_kind["Deployment"]["spec"]["replicas"] == replicas
        assert by_kind["Deployment"]["metadata"]["namespace"] == env
        assert by_kind["Deployment"]["metadata"]["labels"]["environment"] == env
        assert by_kind["ConfigMap"]["data"]["LOG_LEVEL"] == level
        assert by_kind["ConfigMap"]["data"]["BUCKET_NAME"] == "${bucket_name}"


def test_plain_directory_multi_document_in_sorted_order(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "b.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b1}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b2}\n")
    (d / "a.json").write_text('{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}')
    (d / "notes.txt").write_text("ignored")
    objs = render(tmp_path, "m")
    assert [o.obj["metadata"]["name"] for o in objs] == ["a", "b1", "b2"]
    assert objs[1].source == "m/b.yaml"


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "bad.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(RenderError) as err:
        render(tmp_path, "m")
    assert err.value.file == "m/bad.yaml"
    assert "m/bad.yaml" in str(err.value) and "line" in str(err.value)


def test_kustomize_error_names_the_directory(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    with pytest.raises(RenderError) as err:
        render(tmp_path, "k")
    assert "kustomize build of k failed" in str(err.value)
    assert "missing.yaml" in str(err.value)
    # what kustomize says, without the logger's timestamp and thread id: a retry reads the same
    assert "run.go" not in str(err.value) and "command failed" not in str(err.value)
    with pytest.raises(RenderError) as again:
        render(tmp_path, "k")
    assert str(again.value) == str(err.value)


def test_no_kustomize_found_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "kustomization.yaml").write_text("resources: []\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(RenderError) as err:
        render(tmp_path, "k", KustomizeConfig(kustomize_binary=None, kubectl_binary=None))
    assert "neither `kustomize` nor `kubectl`" in str(err.value)
    assert shutil.which("kubectl") is None


def test_path_outside_artifact_refused(tmp_path: Path) -> None:
    with pytest.raises(RenderError):
        render(tmp_path, "../etc")


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_each_object_names_its_own_file_through_kustomize(tmp_path: Path) -> None:
    """Issue 13.7: an object rendered by kustomize names the file it came from (a resource in a subdir,
    a nested kustomization's resource, a generator's kustomization, a base outside the built directory),
    not the top kustomization; kustomize's origin annotation is not left on the objects."""
    _write(tmp_path, {
        "clusters/dev/kustomization.yaml": "resources:\n- infrastructure\n- top.yaml\n- ../../base\n",
        "clusters/dev/top.yaml": CM.format(name="top"),
        "clusters/dev/infrastructure/kustomization.yaml": "resources:\n- app-stack-dev.yaml\n- nested\n",
        "clusters/dev/infrastructure/app-stack-dev.yaml": CM.format(name="app") + "---\n" + CM.format(name="app2"),
        "clusters/dev/infrastructure/nested/kustomization.yaml":
            "resources:\n- deep.yaml\nconfigMapGenerator:\n- name: gen\n  literals: [x=y]\n",
        "clusters/dev/infrastructure/nested/deep.yaml": CM.format(name="deep"),
        "base/kustomization.yaml": "resources:\n- base.yaml\n",
        "base/base.yaml": CM.format(name="base") + "  annotations: {keep: me}\n",
    })
    objs = render(tmp_path, "clusters/dev")
    sources = {o.obj["metadata"]["name"]: o.source for o in objs}
    assert sources == {
        "top": "clusters/dev/top.yaml",
        "app": "clusters/dev/infrastructure/app-stack-dev.yaml",
        "app2": "clusters/dev/infrastructure/app-stack-dev.yaml",
        "deep": "clusters/dev/infrastructure/nested/deep.yaml",
        next(n for n in sources if n.startswith("gen-")): "clusters/dev/infrastructure/nested/kustomization.yaml",
        "base": "base/base.yaml",
    }
    by_name = {o.obj["metadata"]["name"]: o.obj for o in objs}
    assert "annotations" not in by_name["top"]["metadata"]
    assert by_name["base"]["metadata"]["annotations"] == {"keep": "me"}


def test_seed_overlay_objects_name_the_base_files() -> None:
    objs = render(EXAMPLES, "apps/sample-app/overlays/staging")
    assert all(o.source.startswith("apps/sample-app/") and o.source.endswith((".yaml", ".yml")) for o in objs)
    assert all("config.kubernetes.io/origin" not in (o.obj["metadata"].get("annotations") or {}) for o in objs)
    assert {o.source for o in objs} != {"apps/sample-app/overlays/staging/kustomization.yaml"}


def test_origin_annotation_the_user_asked_for_stays(tmp_path: Path) -> None:
    _write(tmp_path, {"k/kustomization.yaml": "resources:\n- cm.yaml\nbuildMetadata: [originAnnotations]\n",
                      "k/cm.yaml": CM.format(name="cm")})
    [obj] = render(tmp_path, "k")
    assert obj.source == "k/cm.yaml"
    assert "config.kubernetes.io/origin" in obj.obj["metadata"]["annotations"]


def test_a_component_still_renders(tmp_path: Path) -> None:
    """A kustomization the wrapper cannot include is built as before (naming the kustomization file)."""
    _write(tmp_path, {"c/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                                              "resources:\n- cm.yaml\n",
                      "c/cm.yaml": CM.format(name="cm")})
    objs = render(tmp_path, "c")
    assert [(o.obj["metadata"]["name"], o.source) for o in objs] in ([("cm", "c/kustomization.yaml")],
                                                                     [("cm", "c/cm.yaml")])
