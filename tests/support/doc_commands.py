"""The shell commands a document shows, as a reader would type them: every line of a fenced `sh`/`shell`/
`bash` block (comments and blank lines left out, `\\` continuations joined) and every `$ ` line of a
`console` block. `tests/e2e/test_demo.py` runs them against the running demo; the unit test beside
tests/unit/support/ checks the extraction."""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^```(\w*)\s*$")
SHELL = ("sh", "shell", "bash")
STATEFUL = ("source ", ". ", "export ", "cd ")  # commands whose effect later commands of the document rely on


@dataclass(frozen=True)
class Command:
    source: str  # "README.md:42"
    text: str

    @property
    def stateful(self) -> bool:
        return self.text.startswith(STATEFUL)


def commands_in(markdown: str, name: str) -> list[Command]:
    out: list[Command] = []
    lang: str | None = None
    pending = ""
    start = 0
    for number, line in enumerate(markdown.splitlines(), 1):
        fence = FENCE.match(line.strip())
        if fence:
            lang = None if lang is not None else fence.group(1)
            continue
        if lang is None:
            continue
        text = line.strip()
        if lang == "console":
            if not text.startswith("$ "):
                continue
            text = text[2:]
        elif lang not in SHELL or not text or text.startswith("#"):
            continue
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        out.append(Command(f"{name}:{start}", pending + text))
        pending = ""
    return out


def printed_commands(output: str, name: str = "demo output") -> list[Command]:
    """The `  $ command` lines a program printed (the demo's "explore it" block)."""
    return [Command(f"{name}:{n}", line.strip()[2:]) for n, line in enumerate(output.splitlines(), 1)
            if line.startswith("  $ ")]
