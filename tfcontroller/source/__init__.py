"""The git source: credentials (`auth`), ref resolution (`refs`), shared-mirror fetching (`git`),
reproducible artifacts and per-path digests (`artifact`), and the artifact store and server (`store`).
Failures are the typed errors of `errors`, each with the condition reason the reconciler reports."""
