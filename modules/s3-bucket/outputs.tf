output "bucket_name" {
  description = "The bucket's name."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "The bucket's ARN, for IAM policies."
  value       = aws_s3_bucket.this.arn
}

output "bucket_regional_domain_name" {
  description = "The bucket's regional endpoint host name."
  value       = aws_s3_bucket.this.bucket_regional_domain_name
}

output "versioning_status" {
  description = "Enabled or Suspended."
  value       = aws_s3_bucket_versioning.this.versioning_configuration[0].status
}
