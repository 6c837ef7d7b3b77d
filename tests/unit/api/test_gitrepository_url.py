"""`url_problem` (api/gitrepository.py): a GitRepository URL that can never name a git remote is a spec
error (Stalled), not a fetch retried for ever; every URL form the API allows and a remote can have stays
valid."""

from __future__ import annotations

import pytest

from tfcontroller.api.errors import SpecError
from tfcontroller.api.gitrepository import GitRepository, url_problem


@pytest.mark.parametrize("url", [
    "https://github.com/org/repo.git", "http://127.0.0.1:8080/repo", "ssh://git@host:2222/org/repo",
    "file:///srv/git/repo.git", "git@github.com:org/repo.git", "https://65397", "http://[::1]:80/x",
    "https://user:pass@host/x", "https://host/path%20with%20escapes",
])
def test_urls_a_remote_can_have(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "why"), [
    ("https://W\u00a0O0t=", "whitespace"), ("https://host/a b", "whitespace"), ("ssh://h/x\n", "whitespace"),
    ("http://h\x00/x", "control"), ("https://host\t/x", "whitespace"), ("http:///x", "no host"),
    ("https://:80/x", "no host"), ("ssh://host", "no repository path"), ("ssh://host/", "no repository path"),
    ("file:///", "no repository path"), ("https://host:notaport/x", "Port"), ("http://[::1/x", "IPv6"),
])
def test_urls_that_can_never_work(url: str, why: str) -> None:
    problem = url_problem(url)
    assert problem is not None and why.lower() in problem.lower(), problem


def test_parse_refuses_them_naming_the_field() -> None:
    obj = {"apiVersion": "tfcontroller.io/v1alpha1", "kind": "GitRepository",
           "metadata": {"name": "r", "namespace": "default"}, "spec": {"url": "ssh://host", "interval": "1m"}}
    with pytest.raises(SpecError, match=r"spec\.url.*no repository path"):
        GitRepository.from_dict(obj)
