"""What the HTTP API tests share besides their fixtures (those are tests/conftest.py's
`api_graph` and `client`): a new key as the header a request carries it in, and the audit
log's last row."""

from __future__ import annotations

import json
from typing import Any

from service import audit, keys
from service.api.app import KEY_HEADER
from service.keys import Role


def api_key(role: Role, **scope: list[str]) -> dict[str, str]:
    """A new key of `role` (an inspector's with its `regions`, `industries`), as headers."""
    _, key = keys.create(role, f"test {role}", **scope)
    return {KEY_HEADER: key}


def last_audit() -> dict[str, Any]:
    """The audit row the last request appended."""
    row: dict[str, Any] = json.loads(audit.log_path().read_text().splitlines()[-1])
    return row
