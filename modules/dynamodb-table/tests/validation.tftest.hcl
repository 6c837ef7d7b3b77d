# Offline checks of the input validation, with a mocked aws provider.
mock_provider "aws" {}

variables {
  name     = "sessions"
  hash_key = { name = "id" }
}

run "accepts_hash_key_only" {
  command = plan

  assert {
    condition     = output.table_name == "sessions" && output.hash_key == "id"
    error_message = "table name and hash key must be the requested ones"
  }
}

run "rejects_bad_key_type" {
  command = plan

  variables {
    range_key = { name = "ts", type = "X" }
  }

  expect_failures = [var.range_key]
}

run "rejects_unknown_billing_mode" {
  command = plan

  variables {
    billing_mode = "ON_DEMAND"
  }

  expect_failures = [var.billing_mode]
}
