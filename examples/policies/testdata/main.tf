terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "5.100.0" }
  }
}
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
variable "api_token" {
  type      = string
  sensitive = true
  default   = "example-sensitive-default"
}
resource "aws_s3_bucket" "logs" {
  bucket = "example-logs"
  tags   = { owner = "team-a", "cost-center" = "cc-42" }
}
resource "aws_s3_bucket" "untagged" {
  bucket = "example-untagged"
  tags   = { owner = "team-a" }
}
resource "aws_s3_bucket_acl" "logs" {
  bucket = aws_s3_bucket.logs.id
  acl    = "public-read"
}
resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = false
  ignore_public_acls      = true
  restrict_public_buckets = true
}
resource "aws_dynamodb_table" "orders" {
  name         = "orders"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  attribute {
    name = "id"
    type = "S"
  }
  tags = { owner = "team-a", "cost-center" = "cc-42" }
}
resource "aws_instance" "web" {
  ami           = "ami-12345678"
  instance_type = "m5.4xlarge"
  tags          = { owner = "team-a", "cost-center" = "cc-42" }
}
resource "aws_sqs_queue" "jobs" {
  name = "jobs"
  tags = { owner = "team-a", "cost-center" = "cc-42", token = var.api_token }
}
