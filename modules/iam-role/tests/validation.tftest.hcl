# Offline checks of the input validation, with a mocked aws provider.
mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }
}

variables {
  name             = "worker"
  trusted_services = ["lambda.amazonaws.com"]
  inline_policy_statements = [
    { actions = ["s3:GetObject"], resources = ["*"] },
  ]
}

run "accepts_valid_inputs" {
  command = plan

  assert {
    condition     = output.role_name == "worker"
    error_message = "role name must be the requested one"
  }
}

run "rejects_non_service_principal" {
  command = plan

  variables {
    trusted_services = ["arn:aws:iam::123456789012:root"]
  }

  expect_failures = [var.trusted_services]
}

run "rejects_unknown_effect" {
  command = plan

  variables {
    inline_policy_statements = [{ effect = "Maybe", actions = ["s3:GetObject"], resources = ["*"] }]
  }

  expect_failures = [var.inline_policy_statements]
}

run "rejects_empty_policy" {
  command = plan

  variables {
    inline_policy_statements = []
  }

  expect_failures = [var.inline_policy_statements]
}
