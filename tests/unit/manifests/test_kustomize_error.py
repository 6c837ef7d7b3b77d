"""kustomize's error text as a ManifestSet's BuildFailed message shows it (issue 13 review, points 7 and 21):
without klog's header (`kubectl kustomize` prints a timestamp and a thread id before every error, so the
message changed on every retry and each retry recorded a new Warning Event) and without `kustomize
build`'s `Error: ` prefix; what kustomize says is kept whole."""

from __future__ import annotations

import pytest

from tfcontroller.manifests.render import kustomize_error

MISSING = ("accumulating resources: accumulation err='accumulating resources from 'missing.yaml': evalsymlink "
           "failure on '/w/k/missing.yaml' : lstat /w/k/missing.yaml: no such file or directory'")


@pytest.mark.parametrize(("stderr", "want"), [
    # kubectl kustomize (klog), as kubectl 1.3x prints it
    (f'E1129 22:18:46.101040    9343 run.go:72] "command failed" err="{MISSING}"\n', MISSING),
    ('E0102 03:04:05.000001 1 run.go:72] "command failed" err="accumulating resources from \'cm.yaml\': '
     'MalformedYAMLError: yaml: line 6: did not find expected key in File: cm.yaml"',
     "accumulating resources from 'cm.yaml': MalformedYAMLError: yaml: line 6: did not find expected key in "
     "File: cm.yaml"),
    # Go's %q escapes inside err="…"
    ('E1129 22:18:46.101040 12 run.go:72] "command failed" err="value \\"x\\" is not a map\\tat a.yaml"',
     'value "x" is not a map\tat a.yaml'),
    # kustomize build
    ("Error: accumulating resources: 'missing.yaml' not found\n", "accumulating resources: 'missing.yaml' not found"),
    # anything else is kept as it is
    ("plain text\nsecond line\n", "plain text\nsecond line"),
    ("W1129 22:18:46.101040 9 warnings.go:70] something odd\n", "something odd"),
])
def test_the_message_is_what_kustomize_says(stderr: str, want: str) -> None:
    assert kustomize_error(stderr) == want


def test_two_attempts_of_the_same_failure_read_the_same() -> None:
    first = f'E1129 22:18:46.101040    9343 run.go:72] "command failed" err="{MISSING}"'
    second = f'E1129 22:18:48.131394    9414 run.go:72] "command failed" err="{MISSING}"'
    assert kustomize_error(first) == kustomize_error(second)
