"""The local control plane: a server that owns the desired state of every pipeline.

`store` (the control database), `worker` and `supervisor` (child processes, restarts,
schedules, TTLs), `server` (the HTTP JSON API) and `client` (what the CLI uses).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for `localhost` and addresses in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
