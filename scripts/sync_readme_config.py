"""Copy docs/configuration.md into the README's "Configuration reference" section (between markers), so
the README carries every flag and environment variable; `--check` fails when they differ.
Run by `make generate`; checked by tests/unit/docs/test_configuration_doc.py."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- configuration:start -->", "<!-- configuration:end -->"


def rendered() -> str:
    body = (ROOT / "docs" / "configuration.md").read_text().split("\n", 1)[1].strip()
    # one heading level deeper inside the README's section
    lines = [("#" + line) if line.startswith("##") else line for line in body.splitlines()]
    return "\n".join(lines)


def synced(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{rendered()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    path = ROOT / "README.md"
    text = path.read_text()
    want = synced(text)
    if "--check" in argv:
        if want != text:
            print("README.md's configuration section is out of date: run `make generate`", file=sys.stderr)
            return 1
        return 0
    path.write_text(want)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
