# An allowlist of EC2 instance types: an aws_instance created or updated with a type outside
# data.allowed_instance_types (the PlanPolicy's spec.data) denies the plan. Without the list every
# instance is denied, so a PlanPolicy that forgot its data fails closed.
package terraform.instancetypes

default allowed := []

allowed := data.allowed_instance_types

# `deny := {msg | …}`, a set comprehension, not `deny contains msg if { … }`: rego-cpp evaluates the
# comprehension in a third to a half of the time (docs/policy.md, "Writing fast policies").
deny := {msg |
	some rc in input.resource_changes
	rc.mode == "managed"
	rc.type == "aws_instance"
	some action in rc.change.actions
	action in {"create", "update"}
	type := rc.change.after.instance_type
	not type in allowed
	msg := sprintf("%s uses instance type %s, not in the allowed list %v", [rc.address, type, allowed])
}
