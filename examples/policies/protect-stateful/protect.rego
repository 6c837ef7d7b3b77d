# No deletes of stateful AWS resources: a DynamoDB table or an S3 bucket that a plan would delete — destroyed,
# or replaced (delete then create, or create then delete) — denies the plan. Such a plan goes through only
# with a PolicyException naming its plan id: someone allowed to create one has looked at exactly this plan.
package terraform.protect

protected_types := {"aws_dynamodb_table", "aws_s3_bucket"}

# `deny := {msg | …}`, a set comprehension, not `deny contains msg if { … }`: rego-cpp evaluates the
# comprehension in a third to a half of the time (docs/policy.md, "Writing fast policies").
deny := {msg |
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type in protected_types
	"delete" in rc.change.actions
	msg := sprintf(
		"%s would be %s: %s holds data; create a PolicyException for plan %s if this is intended",
		[rc.address, verb(rc.change.actions), rc.type, input.tfcontroller.planId],
	)
}

verb(actions) := "replaced" if {
	"create" in actions
} else := "deleted"
