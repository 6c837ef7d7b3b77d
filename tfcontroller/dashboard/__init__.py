"""The web dashboard (`tfcontroller dashboard`): what is deployed, what waits for approval, what drifted.

It reads and acts only with its viewer's identity (the kubeconfig's in local mode, an impersonated
user in-cluster) and never holds the controller's keys (`.importlinter`: no crypto, no controllers)."""
