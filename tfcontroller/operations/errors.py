"""Why an operation was refused, as one exception the CLI prints and the dashboard answers with.

`status` is HTTP-like so the dashboard can answer with it directly: 404 nothing pending / not found,
409 the object changed meanwhile or another plan is pending (or it is suspended), 403 forbidden.
"""

from __future__ import annotations

NOT_FOUND, FORBIDDEN, CONFLICT = 404, 403, 409


class OperationRefused(Exception):
    def __init__(self, message: str, status: int = CONFLICT) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
