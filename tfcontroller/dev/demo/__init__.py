"""`make demo`: the product end to end on one machine (dev cluster, LocalStack, git over HTTP, SMTP sink).

See docs/demo.md for the tour. Not part of the controller.
"""
