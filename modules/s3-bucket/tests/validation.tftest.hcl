# Offline checks of the input validation, with a mocked aws provider.
mock_provider "aws" {}

variables {
  bucket_name = "valid-bucket-name"
}

run "accepts_a_valid_name" {
  command = plan

  assert {
    condition     = output.bucket_name == "valid-bucket-name"
    error_message = "bucket_name output must be the requested name"
  }
}

run "rejects_upper_case_name" {
  command = plan

  variables {
    bucket_name = "Invalid_Bucket"
  }

  expect_failures = [var.bucket_name]
}

run "rejects_ip_address_name" {
  command = plan

  variables {
    bucket_name = "192.168.1.1"
  }

  expect_failures = [var.bucket_name]
}

run "rejects_fractional_days" {
  command = plan

  variables {
    expire_noncurrent_after_days = 1.5
  }

  expect_failures = [var.expire_noncurrent_after_days]
}
