variable "name" {
  description = "Table name."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.name))
    error_message = "name must be 3-255 letters, digits, underscores, dots or hyphens."
  }
}

variable "hash_key" {
  description = "Partition key attribute name and type (S, N or B)."
  type = object({
    name = string
    type = optional(string, "S")
  })

  validation {
    condition     = length(var.hash_key.name) >= 1 && contains(["S", "N", "B"], var.hash_key.type)
    error_message = "hash_key needs a non-empty name and a type of S, N or B."
  }
}

variable "range_key" {
  description = "Optional sort key attribute name and type (S, N or B)."
  type = object({
    name = string
    type = optional(string, "S")
  })
  default = null

  validation {
    condition     = var.range_key == null || try(length(var.range_key.name) >= 1 && contains(["S", "N", "B"], var.range_key.type), false)
    error_message = "range_key needs a non-empty name and a type of S, N or B."
  }
}

variable "billing_mode" {
  description = "PAY_PER_REQUEST or PROVISIONED."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "provisioned_capacity" {
  description = "Read and write capacity units; used only when billing_mode is PROVISIONED."
  type = object({
    read  = number
    write = number
  })
  default = { read = 5, write = 5 }

  validation {
    condition     = var.provisioned_capacity.read >= 1 && var.provisioned_capacity.write >= 1
    error_message = "provisioned_capacity read and write must be at least 1."
  }
}

variable "ttl_attribute" {
  description = "Attribute holding an expiry epoch time; empty disables TTL."
  type        = string
  default     = ""
}

variable "point_in_time_recovery" {
  description = "Enable continuous backups."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the table."
  type        = map(string)
  default     = {}
}
