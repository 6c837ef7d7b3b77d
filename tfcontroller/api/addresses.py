"""Listen addresses of the controller's servers (`--metrics-addr`, `--run-api-listen` …): one parser, on the
lowest layer, because both the runtime's probe server and the run API (terraform layer) read them."""

from __future__ import annotations


def parse_addr(addr: str) -> tuple[str, int]:
    """`HOST:PORT` (HOST may be empty for all interfaces; `[::1]:8080` for IPv6)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address must be HOST:PORT, got {addr!r}")
    return host.strip("[]") or "0.0.0.0", int(port)
