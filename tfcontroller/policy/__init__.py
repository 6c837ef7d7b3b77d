"""Policy as code on plans: Rego policies (conftest conventions) evaluated on a plan's `show -json` (issue 18).

Pure domain code beside terraform/: `bundle` loads and checks policies, `input` builds the masked input,
`evaluate` runs the engine in a child process (`worker`), `exceptions` waives denies for one plan id,
`status` shapes `status.plan.policy`. Imports only `api` (and regopy, in the worker).
"""
