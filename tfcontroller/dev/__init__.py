"""Development tooling for the demo (and usable by tests): a smart-HTTP git server, an SMTP sink and a webhook receiver.

Not part of the controller: nothing under tfcontroller/ except the demo imports these modules.
"""
