# Offline checks of the input validation and naming, with a mocked aws provider.
mock_provider "aws" {}

variables {
  name = "orders"
}

run "fifo_names_get_the_suffix" {
  command = plan

  variables {
    fifo = true
  }

  assert {
    condition     = output.queue_name == "orders.fifo"
    error_message = "FIFO queue names must end in .fifo"
  }
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "orders queue"
  }

  expect_failures = [var.name]
}

run "rejects_zero_receive_count" {
  command = plan

  variables {
    max_receive_count = 0
  }

  expect_failures = [var.max_receive_count]
}
