"""tfcontroller: Terraform in GitOps, as a Kubernetes controller."""

__version__ = "0.1.0"
