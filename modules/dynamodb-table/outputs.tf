output "table_name" {
  description = "The table's name."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "The table's ARN, for IAM policies."
  value       = aws_dynamodb_table.this.arn
}

output "hash_key" {
  description = "The partition key attribute name."
  value       = aws_dynamodb_table.this.hash_key
}
