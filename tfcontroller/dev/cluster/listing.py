"""List semantics of `resourceVersion`, `resourceVersionMatch`, `limit` and `continue`, as the real
server defines them (the API concepts page, "the resourceVersion parameter"):

| resourceVersion | match          | served                                                         |
|-----------------|----------------|----------------------------------------------------------------|
| unset           | —              | the current state                                              |
| "0"             | unset/NotOlder | any state: we serve the current one                            |
| N               | unset, no limit| not older than N: current (waits up to 3 s if N is ahead, 504) |
| N               | NotOlderThan   | the same                                                       |
| N               | Exact, or unset with a limit (legacy) | exactly the state at N, rebuilt from the event log; 410 "The resourceVersion for the provided list is too old." once the log no longer reaches N |

A `continue` token remembers the resourceVersion of the first page, so every page is cut from the
same snapshot; once that is older than the log, the answer is 410 with a new token that continues
inconsistently from the current state (or, when nothing is left, 410 without one).
Invalid combinations are refused with the real server's 422 on `ListOptions` or 400.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from tfcontroller.dev.cluster import errors
from tfcontroller.dev.cluster.errors import ApiError

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"
EXPIRED_LIST = "The resourceVersion for the provided list is too old."
CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter."
)
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new "
    "list without the continue parameter, or use the continue token in this response to retrieve the "
    "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
    "that were created, modified, or deleted between the time the first chunk was returned and now may show "
    "up in the list."
)
CURRENT = -1  # a continue token's snapshot when it continues inconsistently from the current state


@dataclass(frozen=True)
class ContinueToken:
    after: tuple[str, str]  # (namespace, name) of the last item served
    rv: int  # the snapshot every page is cut from; CURRENT after an expiry

    def encode(self) -> str:
        text = json.dumps({"after": list(self.after), "rv": self.rv})
        return base64.urlsafe_b64encode(text.encode()).decode()

    @staticmethod
    def decode(token: str) -> ContinueToken:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            namespace, name = data["after"]
            return ContinueToken((str(namespace), str(name)), int(data.get("rv", CURRENT)))
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request("continue key is not valid") from None


@dataclass(frozen=True)
class Plan:
    """What a list request reads: `exact` is the resourceVersion of a snapshot (None: the current
    state), `at_least` a resourceVersion the current state must have reached."""

    exact: int | None = None
    at_least: int = 0
    after: tuple[str, str] | None = None


def plan(resource_version: str | None, match: str | None, limit: int, continue_token: str | None) -> Plan:
    """Validate the options like the real server and decide which state to serve."""
    rv, match = resource_version or "", match or ""
    problems: list[tuple[str, str]] = []
    if match:
        if not rv:
            problems.append(("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden unless "
                                                     "resourceVersion is provided"))
        if continue_token:
            problems.append(("resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden when "
                                                     "continue is provided"))
        if match not in (EXACT, NOT_OLDER_THAN):
            problems.append(("resourceVersionMatch", f'Unsupported value: "{match}": supported values: '
                                                     f'"{EXACT}", "{NOT_OLDER_THAN}"'))
        if match == EXACT and rv == "0":
            problems.append(("resourceVersionMatch", 'Forbidden: resourceVersionMatch "exact" is forbidden '
                                                     'for resourceVersion "0"'))
    if problems:
        raise errors.invalid("meta.k8s.io", "ListOptions", "", problems)
    if continue_token:
        if rv and rv != "0":
            raise errors.bad_request("specifying resource version is not allowed when using continue")
        token = ContinueToken.decode(continue_token)
        return Plan(exact=None if token.rv == CURRENT else token.rv, after=token.after)
    if rv in ("", "0"):
        return Plan()
    try:
        number = int(rv)
    except ValueError:
        raise errors.bad_request(f"invalid resource version {rv!r}") from None
    if match == EXACT or (not match and limit > 0):
        return Plan(exact=number, at_least=number)
    return Plan(at_least=number)


def too_large(wanted: int, current: int) -> ApiError:
    """The real 504 for a resourceVersion the server has not reached (after waiting for it)."""
    return ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {wanted}, current: {current}",
        {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
         "retryAfterSeconds": 1},
    )


def expired_continue(after: tuple[str, str], anything_left: bool) -> ApiError:
    """410 for a continue token whose snapshot is gone; carries a token to go on inconsistently."""
    if not anything_left:
        return errors.gone(CONTINUE_EXPIRED)
    err = errors.gone(INCONSISTENT_CONTINUE)
    err.metadata = {"continue": ContinueToken(after, CURRENT).encode()}
    return err
