# No public S3: a bucket ACL (canned `public-read`/`public-read-write`, or a grant to AllUsers or
# AuthenticatedUsers) and a public access block with any of its four settings false deny the plan.
package terraform.s3public

public_acls := {"public-read", "public-read-write"}

public_groups := {
	"http://acs.amazonaws.com/groups/global/AllUsers",
	"http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}

block_settings := ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]

# a function, not a set of resource changes: a set of whole objects costs the engine a sort of them all
changing(rc) if {
	rc.mode == "managed"
	some action in rc.change.actions
	action in {"create", "update"}
}

# `deny := {msg | …}`, a set comprehension, not `deny contains msg if { … }`: rego-cpp evaluates the
# comprehension in a third to a half of the time (docs/policy.md, "Writing fast policies").
acl_denies := {msg |
	some rc in input.resource_changes
	rc.type in {"aws_s3_bucket_acl", "aws_s3_bucket"}
	changing(rc)
	rc.change.after.acl in public_acls
	msg := sprintf("%s sets the public ACL %s", [rc.address, rc.change.after.acl])
}

grant_denies := {msg |
	some rc in input.resource_changes
	rc.type == "aws_s3_bucket_acl"
	changing(rc)
	some policy in rc.change.after.access_control_policy
	some grant in policy.grant
	some grantee in grant.grantee
	grantee.uri in public_groups
	msg := sprintf("%s grants %s to %s", [rc.address, grant.permission, grantee.uri])
}

block_denies := {msg |
	some rc in input.resource_changes
	rc.type == "aws_s3_bucket_public_access_block"
	changing(rc)
	some setting in block_settings
	rc.change.after[setting] == false
	msg := sprintf("%s sets %s = false: the bucket may become public", [rc.address, setting])
}

deny := (acl_denies | grant_denies) | block_denies
