"""Where veil keeps its local state, and the secrets it generates for itself.

Everything local lives under one home directory (`VEIL_HOME`, default `./.veil`): the
local Neo4j store, its password, the identity-token secret. Secrets are created on first
use with mode 0600 and reused afterwards, so tokens stay stable across runs and waves.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent


#: Files veil creates hold personal data (mentions, exports, the store): owner only.
PRIVATE_UMASK = 0o077


def private_files() -> None:
    """Make every file and directory this process creates owner-only (0600 / 0700).

    Set once at the CLI's entry, so run directories, exports, logs, the local Neo4j store
    (a child process inherits it) and anything a library writes on veil's behalf are
    covered, not only the files veil opens itself.
    """
    os.umask(PRIVATE_UMASK)


def veil_home() -> Path:
    """The local state directory (created on demand)."""
    home = Path(os.environ.get("VEIL_HOME", ".veil")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def read_or_create_secret(path: Path, nbytes: int = 32) -> str:
    """Return the secret stored at `path`, creating it (mode 0600) if absent."""
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    return value


def id_token_secret() -> bytes:
    """Key for the HMAC tokens that stand in for resident ID numbers everywhere veil stores them.

    `VEIL_ID_SECRET` wins; otherwise a secret generated once under the veil home.
    """
    env = os.environ.get("VEIL_ID_SECRET")
    if env:
        return env.encode("utf-8")
    return read_or_create_secret(veil_home() / "id_secret").encode("ascii")
