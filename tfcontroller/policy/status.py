"""`status.plan.policy`: a PolicyReport in the shape users read (status, history, mail, `plan show`).

Messages come from policies, i.e. from a repository: they are capped in number and length so that a policy
emitting one message per resource of a 500-resource plan cannot push the object past etcd's size limit.
The caller scrubs them (api/redact.scrub) before writing: a policy could quote a value the input did not
mask, such as a Secret's content used as a resource name.
"""

from __future__ import annotations

from typing import Any

from tfcontroller.policy.evaluate import FAIL_OPEN, PolicyReport, PolicyResult

MAX_MESSAGES = 20  # per policy
MAX_MESSAGE_CHARS = 500


def report_to_status(report: PolicyReport) -> dict[str, Any]:
    """{"result", "evaluatedAt", "policiesDigest", "results": [{"policy", "enforcement", "result",
    "messages", "exception"?}]}."""
    return {
        "result": report.result,
        "evaluatedAt": report.evaluated_at,
        "policiesDigest": report.digest,
        "results": [_result(r) for r in report.results],
    }


def _result(result: PolicyResult) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": result.policy, "enforcement": result.enforcement, "result": result.result,
                           "messages": capped(_messages(result))}
    if result.waived:
        out["exception"] = result.exception
    return out


def _messages(result: PolicyResult) -> list[str]:
    """Denies and warnings, then the error, if any (an error never hides a deny)."""
    return [*result.denies, *result.warnings, *([result.error] if result.error else [])]


def capped(messages: list[str], limit: int = MAX_MESSAGES, chars: int = MAX_MESSAGE_CHARS) -> list[str]:
    """At most `limit` messages of at most `chars` characters; what was left out is counted in a last one."""
    out = [m if len(m) <= chars else m[: chars - 1] + "…" for m in messages[:limit]]
    if len(messages) > limit:
        out.append(f"… and {len(messages) - limit} more")
    return out


def summary(report: PolicyReport, limit: int = 3) -> str:
    """One line for a condition or an Event: the blocking (else warning) messages with their policy, e.g.
    `ns/protect: aws_s3_bucket.logs would be deleted; … (2 more)`."""
    parts: list[str] = []
    for r in report.results:
        if r.blocks:
            blocking = ([] if r.waived else r.denies) + ([r.error] if r.error and r.failure_policy != FAIL_OPEN else [])
            parts.extend(f"{r.policy}: {m}" for m in blocking)
    if not parts:
        for r in report.results:
            parts.extend(f"{r.policy}: {m}" for m in ([r.error] if r.error else r.warnings + r.denies))
    shown = [p if len(p) <= MAX_MESSAGE_CHARS else p[: MAX_MESSAGE_CHARS - 1] + "…" for p in parts[:limit]]
    more = f" ({len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(shown) + more
