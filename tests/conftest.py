"""Shared pytest configuration. Server fixtures live in tests/fixtures/, one module per server, each
cleaning up after itself; list a new one in `pytest_plugins`."""

pytest_plugins: list[str] = [
    "tests.fixtures.devcluster",
    "tests.fixtures.smtp",
    "tests.fixtures.git_servers",
    "tests.fixtures.aws",
]
