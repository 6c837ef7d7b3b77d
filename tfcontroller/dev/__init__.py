"""Development tooling for the demo (and usable by tests): a smart-HTTP git server and an SMTP sink.

Not part of the controller: nothing under tfcontroller/ except the demo imports these modules.
"""
