# Required tags: every taggable AWS resource (one with a `tags` argument) that a plan creates or updates
# carries the tags `owner` and `cost-center`, set on the resource or through the provider's default_tags
# (`tags_all` holds both; when it is known only after apply, `tags` is checked).
package terraform.tags

required := ["owner", "cost-center"]

# `deny := {msg | …}`, a set comprehension, not `deny contains msg if { … }`: rego-cpp evaluates the
# comprehension in a third to a half of the time (docs/policy.md, "Writing fast policies").
deny := {msg |
	some rc in input.resource_changes
	rc.mode == "managed"
	startswith(rc.type, "aws_")
	some action in rc.change.actions
	action in {"create", "update"}
	is_object(rc.change.after)
	"tags" in object.keys(rc.change.after)
	tags := effective_tags(rc.change)
	missing := [t | some t in required; not tags[t]]
	count(missing) > 0
	msg := concat("", [rc.address, " lacks the tag(s) ", concat(", ", missing)])
}

effective_tags(change) := change.after.tags_all if {
	is_object(change.after.tags_all)
} else := change.after.tags if {
	is_object(change.after.tags)
} else := {}
