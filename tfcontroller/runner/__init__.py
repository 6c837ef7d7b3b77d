"""The runner: one Terraform run, executed apart from the controller (issue 15, `tfcontroller runner run`).

It holds no controller credential and no key: it reads its request, downloads and verifies the artifact,
reads the object's Secret/ConfigMap references with its *own* identity (so RBAC, not the controller,
decides what a tenant's run may read), runs Terraform with the library of `tfcontroller.terraform`, and
writes one result (`tfcontroller.api.run_protocol`). `.importlinter` forbids this package from importing
`tfcontroller.crypto` and `tfcontroller.controllers`: no key and no controller code can reach a run.
"""
