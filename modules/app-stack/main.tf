locals {
  prefix = "${var.name}-${var.environment}"
  tags = merge(var.tags, {
    app         = var.name
    environment = var.environment
    managed-by  = "tfcontroller"
  })
}

module "artifacts" {
  source = "../s3-bucket"

  bucket_name        = "${local.prefix}-artifacts"
  versioning_enabled = true
  force_destroy      = var.force_destroy_bucket
  tags               = local.tags
}

module "jobs" {
  source = "../sqs-queue"

  name              = "${local.prefix}-jobs"
  max_receive_count = var.max_receive_count
  tags              = local.tags
}

module "state" {
  source = "../dynamodb-table"

  name                   = "${local.prefix}-state"
  hash_key               = { name = "pk", type = "S" }
  range_key              = { name = "sk", type = "S" }
  ttl_attribute          = "expires_at"
  point_in_time_recovery = var.point_in_time_recovery
  tags                   = local.tags
}

module "worker_role" {
  source = "../iam-role"

  name               = "${local.prefix}-worker"
  trusted_services   = ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"]
  inline_policy_name = "app-access"
  inline_policy_statements = [
    {
      sid       = "Artifacts"
      actions   = ["s3:GetObject", "s3:PutObject", "s3:ListBucket"]
      resources = [module.artifacts.bucket_arn, "${module.artifacts.bucket_arn}/*"]
    },
    {
      sid       = "Jobs"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "sqs:GetQueueAttributes"]
      resources = [module.jobs.queue_arn]
    },
    {
      sid       = "State"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"]
      resources = [module.state.table_arn]
    },
  ]
  tags = local.tags
}
