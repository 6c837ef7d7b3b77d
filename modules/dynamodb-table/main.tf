locals {
  key_attributes = concat([var.hash_key], var.range_key == null ? [] : [var.range_key])
  provisioned    = var.billing_mode == "PROVISIONED"
}

resource "aws_dynamodb_table" "this" {
  name           = var.name
  billing_mode   = var.billing_mode
  hash_key       = var.hash_key.name
  range_key      = var.range_key == null ? null : var.range_key.name
  read_capacity  = local.provisioned ? var.provisioned_capacity.read : null
  write_capacity = local.provisioned ? var.provisioned_capacity.write : null
  tags           = var.tags

  dynamic "attribute" {
    for_each = local.key_attributes
    content {
      name = attribute.value.name
      type = attribute.value.type
    }
  }

  dynamic "ttl" {
    for_each = var.ttl_attribute == "" ? [] : [var.ttl_attribute]
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }
}
