variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^\\d+\\.\\d+\\.\\d+\\.\\d+$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of lower-case letters, digits, dots and hyphens, start and end with a letter or digit, and not look like an IP address."
  }
}

variable "versioning_enabled" {
  description = "Keep every version of every object."
  type        = bool
  default     = true
}

variable "expire_noncurrent_after_days" {
  description = "Days after which non-current object versions are deleted by the lifecycle rule."
  type        = number
  default     = 30

  validation {
    condition     = var.expire_noncurrent_after_days >= 1 && var.expire_noncurrent_after_days <= 3650 && floor(var.expire_noncurrent_after_days) == var.expire_noncurrent_after_days
    error_message = "expire_noncurrent_after_days must be a whole number of days between 1 and 3650."
  }
}

variable "abort_incomplete_uploads_after_days" {
  description = "Days after which incomplete multipart uploads are aborted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_uploads_after_days >= 1 && floor(var.abort_incomplete_uploads_after_days) == var.abort_incomplete_uploads_after_days
    error_message = "abort_incomplete_uploads_after_days must be a whole number of days, at least 1."
  }
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete the bucket even when it still holds objects."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the bucket."
  type        = map(string)
  default     = {}

  validation {
    condition     = length(var.tags) <= 50 && alltrue([for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256])
    error_message = "At most 50 tags; keys 1-128 characters, values up to 256 characters."
  }
}
