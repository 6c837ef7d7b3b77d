variable "name" {
  description = "Role name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.name))
    error_message = "name must be 1-64 characters from letters, digits and +=,.@_-."
  }
}

variable "path" {
  description = "IAM path for the role."
  type        = string
  default     = "/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.path))
    error_message = "path must start and end with a slash, e.g. / or /apps/."
  }
}

variable "trusted_services" {
  description = "AWS service principals allowed to assume the role, e.g. [\"lambda.amazonaws.com\"]."
  type        = list(string)

  validation {
    condition     = length(var.trusted_services) > 0 && alltrue([for s in var.trusted_services : can(regex("^[a-z0-9.-]+\\.amazonaws\\.com$", s))])
    error_message = "trusted_services must list at least one service principal ending in .amazonaws.com."
  }
}

variable "max_session_duration" {
  description = "Maximum session length in seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "inline_policy_name" {
  description = "Name of the inline policy attached to the role."
  type        = string
  default     = "inline"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.inline_policy_name))
    error_message = "inline_policy_name must be 1-128 characters from letters, digits and +=,.@_-."
  }
}

variable "inline_policy_statements" {
  description = "Statements of the inline policy."
  type = list(object({
    sid       = optional(string)
    effect    = optional(string, "Allow")
    actions   = list(string)
    resources = list(string)
  }))

  validation {
    condition     = length(var.inline_policy_statements) > 0
    error_message = "inline_policy_statements needs at least one statement."
  }

  validation {
    condition = alltrue([
      for s in var.inline_policy_statements :
      contains(["Allow", "Deny"], s.effect) && length(s.actions) > 0 && length(s.resources) > 0
    ])
    error_message = "Every statement needs effect Allow or Deny and at least one action and one resource."
  }
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
