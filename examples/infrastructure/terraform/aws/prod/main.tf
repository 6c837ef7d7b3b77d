# The prod application stack: everything the sample app needs in AWS, from the shared module.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "name" {
  description = "Application name."
  type        = string
  default     = "sample-app"
}

variable "owner" {
  description = "Team that owns the stack (a tag)."
  type        = string
  default     = "platform"
}

module "stack" {
  source = "../../../../modules/app-stack"

  name                 = var.name
  environment          = "prod"
  force_destroy_bucket = true
  tags = {
    owner = var.owner
  }
}

output "bucket_name" {
  value = module.stack.bucket_name
}

output "queue_url" {
  value = module.stack.queue_url
}

output "table_name" {
  value = module.stack.table_name
}

output "connection_string" {
  value     = module.stack.connection_string
  sensitive = true
}
