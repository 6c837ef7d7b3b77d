"""The extraction of the commands a document shows (tests/support/doc_commands.py): only shell blocks and
`$ ` lines of console blocks count, comments and output do not, continuations are joined."""

from __future__ import annotations

from tests.support.doc_commands import commands_in, printed_commands

DOC = """Intro `inline` is prose.

```sh
source .venv/bin/activate   # a comment stays with its command
# a comment line

tfcontroller get tf \\
  -A
```

```yaml
spec: {}
```

```console
$ tfcontroller get tf -n infra
NAME   READY
bucket False
```
"""


def test_shell_and_console_commands_are_found_with_their_line() -> None:
    found = commands_in(DOC, "doc.md")
    assert [(c.source, c.text) for c in found] == [
        ("doc.md:4", "source .venv/bin/activate   # a comment stays with its command"),
        ("doc.md:7", "tfcontroller get tf  -A"),
        ("doc.md:16", "tfcontroller get tf -n infra"),
    ]
    assert [c.stateful for c in found] == [True, False, False]


def test_printed_commands_are_the_dollar_lines() -> None:
    out = "[ 1.0s] started\n  $ export KUBECONFIG=/tmp/k\n  $ tfcontroller get tf -A\nother\n"
    assert [c.text for c in printed_commands(out)] == ["export KUBECONFIG=/tmp/k", "tfcontroller get tf -A"]
