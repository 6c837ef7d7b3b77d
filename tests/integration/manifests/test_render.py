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
