"""The drift rule (tfcontroller.terraform.drift) on a real plan of the aws provider against the AWS emulator
(issue 13, point 8): modules/s3-bucket applied, one tag changed outside Terraform with boto3, then the
refresh-and-plan the drift check runs. Terraform's resource_drift for the bucket also lists the attributes
that the sibling versioning / lifecycle resources manage (`versioning[0].enabled: false -> true`,
`lifecycle_rule: [] -> [...]`); the report must name only the tag the plan puts back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.fixtures.aws import AwsEmulator, TerraformOffline, copy_modules
from tfcontroller.terraform.drift import analyze, diff_attributes

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(900)]


def test_changed_tag_is_the_only_drift_of_the_bucket(aws_emulator: AwsEmulator, terraform_offline: TerraformOffline,
                                                     tmp_path: Path) -> None:
    module = copy_modules(tmp_path) / "s3-bucket"
    bucket = f"drift-{uuid.uuid4().hex[:10]}"
    env = {**aws_emulator.env, "TF_DATA_DIR": str(tmp_path / "tfdata")}
    tf_vars = ["-var", f"bucket_name={bucket}", "-var", "force_destroy=true", "-var", 'tags={"env":"prod"}']
    terraform_offline.run(["init", "-input=false"], module, env, timeout=300)
    try:
        terraform_offline.run(["apply", "-auto-approve", "-input=false", *tf_vars], module, env, timeout=600)
        s3 = aws_emulator.boto3_client("s3")
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "hacked"}]})

        terraform_offline.run(["plan", "-input=false", "-out=drift.tfplan", *tf_vars], module, env, timeout=600)
        show = json.loads(terraform_offline.run(["show", "-json", "drift.tfplan"], module, env).stdout)
        raw = {entry["address"]: [c.path for c in diff_attributes(entry["change"]["before"], entry["change"]["after"])]
               for entry in show.get("resource_drift") or [] if entry["change"]["after"] is not None}
        # the refresh noise of the issue is there (moto and LocalStack both report it) ...
        assert {"tags.env", "lifecycle_rule", "versioning[0].enabled"} <= set(raw.get("aws_s3_bucket.this", [])), raw

        # ... and the report names only the tag the plan puts back
        report = analyze(show)
        assert report.addresses == ["aws_s3_bucket.this"], report.event_message()
        (resource,) = report.resources
        assert resource.remediation == "update"
        assert {p.split(".")[0] for p in resource.attribute_paths} <= {"tags", "tags_all"}, resource.attribute_paths
        assert "tags.env" in resource.attribute_paths
        changes = {c.path: (c.before, c.after) for c in resource.changed_attributes}
        assert changes["tags.env"] == ("prod", "hacked")
    finally:
        terraform_offline.run(["destroy", "-auto-approve", "-input=false", *tf_vars], module, env, timeout=600,
                              check=False)
