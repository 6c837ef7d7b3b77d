"""A hand-written `terraform show -json` document with drift (shared by the notify tests). The values
marked sensitive are listed in SECRETS so tests can assert that none of them leaks."""

from __future__ import annotations

from typing import Any

SECRETS = ("hunter2-old", "hunter2-new", "tok<en>&secret")


def _change(address: str, actions: list[str], before: Any, after: Any, **extra: Any) -> dict[str, Any]:
    change = {"actions": actions, "before": before, "after": after, "after_unknown": {},
              "before_sensitive": {}, "after_sensitive": {}, **extra}
    return {"address": address, "mode": "managed", "change": change}


def drift_plan() -> dict[str, Any]:
    bucket_before = {"bucket": "demo", "tags": {"env": "prod", "owner": "<team-a>"}}
    bucket_after = {"bucket": "demo", "tags": {"env": "dev", "owner": "<team-b>"}}
    db_before = {"password": SECRETS[0], "auth": {"token": SECRETS[2]}, "size": 1}
    db_after = {"password": SECRETS[1], "auth": {"token": "other"}, "size": 2}
    sens = {"password": True, "auth": {"token": True}}
    return {
        "format_version": "1.2",
        "resource_drift": [
            _change("aws_s3_bucket.demo", ["update"], bucket_before, bucket_after),
            _change("aws_db_instance.main", ["update"], db_before, db_after,
                    before_sensitive=sens, after_sensitive=sens),
            _change("aws_sqs_queue.jobs", ["delete"], {"name": "jobs"}, None),
        ],
        "resource_changes": [
            _change("aws_s3_bucket.demo", ["update"], bucket_after, bucket_before),
            _change("aws_db_instance.main", ["update"], db_after, db_before,
                    before_sensitive=sens, after_sensitive=sens),
            _change("aws_sqs_queue.jobs", ["create"], None, {"name": "jobs"}),
        ],
    }
