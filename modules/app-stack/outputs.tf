output "bucket_name" {
  description = "Artifact bucket."
  value       = module.artifacts.bucket_name
}

output "bucket_arn" {
  description = "Artifact bucket ARN."
  value       = module.artifacts.bucket_arn
}

output "queue_url" {
  description = "Job queue URL."
  value       = module.jobs.queue_url
}

output "queue_arn" {
  description = "Job queue ARN."
  value       = module.jobs.queue_arn
}

output "dlq_url" {
  description = "Dead-letter queue URL."
  value       = module.jobs.dlq_url
}

output "table_name" {
  description = "State table."
  value       = module.state.table_name
}

output "table_arn" {
  description = "State table ARN."
  value       = module.state.table_arn
}

output "role_name" {
  description = "Worker role name."
  value       = module.worker_role.role_name
}

output "role_arn" {
  description = "Worker role ARN."
  value       = module.worker_role.role_arn
}

output "app_config" {
  description = "Non-secret settings for the workers, as one object (e.g. for a ConfigMap)."
  value = {
    bucket = module.artifacts.bucket_name
    queue  = module.jobs.queue_url
    table  = module.state.table_name
    role   = module.worker_role.role_arn
  }
}

output "connection_string" {
  description = "What a worker needs to connect: queue URL, table, bucket and the shared secret. Sensitive."
  sensitive   = true
  value = format(
    "sqs+%s?table=%s&bucket=%s%s",
    module.jobs.queue_url,
    module.state.table_name,
    module.artifacts.bucket_name,
    var.connection_secret == "" ? "" : "&secret=${var.connection_secret}",
  )
}
