"""Drift notifications: building the e-mail (report), deciding when to send it (outbox) and delivering it
(smtp, ses). Pure logic and transports only; the Terraform reconciler wires them together."""
