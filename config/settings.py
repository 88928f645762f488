"""Where veil keeps its local state, and the secrets it generates for itself.

Everything local lives under one home directory (`VEIL_HOME`, default `./.veil`): the
local Neo4j store, its password, the identity-token secret. Secrets are created on first
use with mode 0600 and reused afterwards, so tokens stay stable across runs and waves.
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import EnvironmentProblem

CONFIG_DIR = Path(__file__).resolve().parent

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _unset_means(text: str) -> dict[str, Any]:
    """What an unset variable stands for, when it is not a plain default value."""
    return {"unset_means": text}


class Environment(BaseSettings):
    """Every environment variable veil reads, in one place, typed and checked.

    Read afresh by `environment()` on each use, so a test or a shell that sets a variable
    is seen at once. An empty variable counts as unset. README.md's table of variables is
    checked against these fields (tests/test_settings.py).
    """

    model_config = SettingsConfigDict(
        env_prefix="VEIL_", env_ignore_empty=True, extra="ignore", frozen=True
    )

    home: Path = Field(Path(".veil"), description="local state (Neo4j store, secrets)")
    id_secret: SecretStr | None = Field(
        None,
        description="key of the HMAC tokens that replace resident ID numbers",
        json_schema_extra=_unset_means("generated in `$VEIL_HOME/id_secret`"),
    )
    linkage: Path | None = Field(
        None,
        description="linkage thresholds and training settings",
        json_schema_extra=_unset_means("`config/linkage.yaml`"),
    )
    graph: Path | None = Field(
        None,
        description="control thresholds, load batch size, related-party reach",
        json_schema_extra=_unset_means("`config/graph.yaml`"),
    )
    rules: Path | None = Field(
        None,
        description="alert rules: trigger, reach, restricted roles and industries, period",
        json_schema_extra=_unset_means("`config/rules.yaml`"),
    )
    serve_run: Path | None = Field(
        None,
        description="the linked run whose saved models `veil serve` screens applications "
        "with (`veil serve --run`)",
        json_schema_extra=_unset_means("the run of the graph's last load"),
    )
    serve_threads: int = Field(
        4,
        ge=1,
        le=256,
        description="threads each `veil serve` worker answers requests that wait on Neo4j "
        "or the disk with (`veil serve --threads`); more requests wait their turn on the "
        "event loop",
    )
    log_level: LogLevel = Field("WARNING", description="what veil logs to stderr")
    duckdb_memory_limit: str = Field(
        "2GB", description="memory DuckDB may use while scoring pairs (it spills beyond)"
    )
    import_memory: str = Field(
        "2g", description="off-heap memory of `veil graph load --bulk`'s neo4j-admin import"
    )
    jar_cache: Path | None = Field(
        None,
        description="where the Neo4j jars are cached",
        json_schema_extra=_unset_means("`$XDG_CACHE_HOME/veil`, else `~/.cache/veil`"),
    )
    neo4j_home: Path | None = Field(
        None,
        description="the local Neo4j's data directory",
        json_schema_extra=_unset_means("`$VEIL_HOME/neo4j`"),
    )
    neo4j_port: int = Field(7687, gt=0, lt=65536, description="the local Neo4j's Bolt port")
    neo4j_heap: str = Field("1g", description="the local Neo4j's JVM heap")
    neo4j_pagecache: str = Field("512m", description="the local Neo4j's page cache")
    neo4j_tx_max: str | None = Field(
        None,
        description="the local Neo4j's cap on a transaction's memory",
        json_schema_extra=_unset_means("half the heap"),
    )
    neo4j_start_timeout: float = Field(
        120.0, gt=0, description="seconds the local Neo4j may take to start"
    )
    neo4j_uri: str | None = Field(
        None,
        validation_alias="NEO4J_URI",
        description="use this Neo4j; never start a local one",
    )
    neo4j_user: str = Field(
        "neo4j", validation_alias="NEO4J_USER", description="user on the NEO4J_URI server"
    )
    neo4j_password: SecretStr | None = Field(
        None,
        validation_alias="NEO4J_PASSWORD",
        description="password on the NEO4J_URI server (required with NEO4J_URI)",
    )
    neo4j_database: str = Field(
        "neo4j", validation_alias="NEO4J_DATABASE", description="database on the NEO4J_URI server"
    )
    xdg_cache_home: Path | None = Field(
        None,
        validation_alias="XDG_CACHE_HOME",
        description="the user's cache, where the jars go when VEIL_JAR_CACHE is unset",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def markdown_table(cls) -> str:
        """README.md's table of variables, one row per field (tests/test_settings.py keeps
        the README equal to it)."""
        rows = ["| variable | meaning | default |", "| --- | --- | --- |"]
        for name, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            shown = extra.get("unset_means") or (
                "unset" if info.default is None else f"`{info.default}`"
            )
            rows.append(f"| `{cls.variable(name)}` | {info.description} | {shown} |")
        return "\n".join(rows) + "\n"

    @classmethod
    def default(cls, field: str) -> Any:
        """The value of `field` when its variable is unset."""
        return cls.model_fields[field].default

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable of `field`."""
        alias = cls.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else f"VEIL_{field.upper()}"


def environment() -> Environment:
    """The environment as veil reads it; a malformed variable names itself and what it
    should hold.

    Validating the settings costs about a millisecond, and the API asks on every request
    (keys, audit): the result is kept for as long as the variables it reads keep their
    values, so a test or shell that changes one is still seen at once."""
    return _environment(tuple(os.environ.get(name) for name in _VARIABLES))


_VARIABLES = tuple(Environment.variable(field) for field in Environment.model_fields)


def export(field: str, value: str) -> None:
    """Set `field`'s variable for this process and those it starts: how `veil serve --run`
    hands its run to every uvicorn worker."""
    os.environ[Environment.variable(field)] = value


@functools.lru_cache(maxsize=8)
def _environment(_values: tuple[str | None, ...]) -> Environment:
    try:
        return Environment()
    except ValidationError as err:
        problems = []
        for error in err.errors():
            field = str(error["loc"][0])
            name = Environment.variable(field) if field in Environment.model_fields else field
            secret = any(word in name.lower() for word in ("secret", "password"))
            shown = "" if secret else f"={error['input']!r}"
            problems.append(f"{name}{shown}: {error['msg']}")
        raise EnvironmentProblem("environment: " + "; ".join(problems)) from None


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
    """The local state directory (created on demand).

    The API asks for it several times a request (keys, pepper, audit): resolved once per
    value of VEIL_HOME and working directory, it costs a few microseconds instead of the
    ~100 µs of reading every variable and resolving the path again."""
    home = _home(os.environ.get(Environment.variable("home")), os.getcwd())
    if not home.is_dir():
        home.mkdir(parents=True, exist_ok=True)
    return home


@functools.lru_cache(maxsize=8)
def _home(_value: str | None, _cwd: str) -> Path:
    return environment().home.resolve()


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
    secret = environment().id_secret
    if secret is not None:
        return secret.get_secret_value().encode("utf-8")
    return read_or_create_secret(veil_home() / "id_secret").encode("ascii")
