# Offline checks of the input validation and naming, with a mocked aws provider (no emulator needed).
# Run with `terraform init -backend=false && terraform test` in modules/app-stack.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name = "shop"
}

run "names_follow_the_prefix" {
  command = plan

  assert {
    condition     = output.bucket_name == "shop-dev-artifacts"
    error_message = "bucket name must be <name>-<environment>-artifacts"
  }

  assert {
    condition     = output.table_name == "shop-dev-state" && output.role_name == "shop-dev-worker"
    error_message = "table and role names must follow <name>-<environment>-<part>"
  }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "Shop_1"
  }

  expect_failures = [var.name]
}

run "rejects_unknown_environment" {
  command = plan

  variables {
    environment = "qa"
  }

  expect_failures = [var.environment]
}

run "rejects_short_secret" {
  command = plan

  variables {
    connection_secret = "short"
  }

  expect_failures = [var.connection_secret]
}

run "rejects_bad_receive_count" {
  command = plan

  variables {
    max_receive_count = 0
  }

  expect_failures = [var.max_receive_count]
}
