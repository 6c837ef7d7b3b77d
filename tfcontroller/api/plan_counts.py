"""How a plan's counts read, everywhere they are shown (issue 20): add / change / destroy as Terraform prints
them, then imports (`import` blocks) and moves (`moved` blocks) counted on their own. An import or a move
changes the state without adding, changing or destroying anything, so a plan that only imports or moves has
changes (it must be applied for the state to follow the code) and its counts must say so: "0 to add, 0 to
change, 0 to destroy" alone would read as "no changes". The import and move parts are left out when zero, so
that the common text stays the one users know from Terraform. One rule, used by the status, the history, the
readable plan, the runner's messages and the notifications."""

from __future__ import annotations


def counts_text(add: int, change: int, destroy: int, imports: int = 0, moves: int = 0, *, done: bool = False) -> str:
    """`1 to add, 0 to change, 0 to destroy, 2 to import, 1 to move` (or, `done`, `1 added, … 2 imported,
    1 moved`)."""
    if done:
        parts = [f"{add} added", f"{change} changed", f"{destroy} destroyed"]
        extra = [f"{imports} imported" if imports else "", f"{moves} moved" if moves else ""]
    else:
        parts = [f"{add} to add", f"{change} to change", f"{destroy} to destroy"]
        extra = [f"{imports} to import" if imports else "", f"{moves} to move" if moves else ""]
    return ", ".join([*parts, *(e for e in extra if e)])


def short_counts(add: int, change: int, destroy: int, imports: int = 0, moves: int = 0) -> str:
    """`+1 ~0 -0` (history tables), then `import 2` and `move 1` when there are any."""
    text = f"+{add} ~{change} -{destroy}"
    if imports:
        text += f" import {imports}"
    if moves:
        text += f" move {moves}"
    return text
