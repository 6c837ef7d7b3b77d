variable "name" {
  description = "Application name; prefixes every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lower-case letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "environment" {
  description = "Deployment stage."
  type        = string
  default     = "dev"

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "tags" {
  description = "Extra tags for every resource (app, environment and managed-by are always set)."
  type        = map(string)
  default     = {}
}

variable "max_receive_count" {
  description = "Receives after which a job message moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "point_in_time_recovery" {
  description = "Enable continuous backups of the state table."
  type        = bool
  default     = false
}

variable "force_destroy_bucket" {
  description = "Let `terraform destroy` remove the artifact bucket even when it holds objects."
  type        = bool
  default     = false
}

variable "connection_secret" {
  description = "Shared secret the workers append to the connection string (empty: none). Sensitive."
  type        = string
  default     = ""
  sensitive   = true

  validation {
    condition     = var.connection_secret == "" || length(var.connection_secret) >= 16
    error_message = "connection_secret must be empty or at least 16 characters."
  }
}
