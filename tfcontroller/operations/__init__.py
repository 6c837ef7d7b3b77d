"""What a user does to an object (approve a plan, request a reconcile or a re-plan, suspend, resume) and
the reads that go with it, in one place shared by the CLI and the dashboard, so both refuse and record
the same way. Imports only `api` and `kube`: the callers choose the identity (a kubeconfig, or the
dashboard impersonating its viewer)."""
