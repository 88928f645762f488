"""Which Neo4j veil talks to, and the one place a driver is opened.

An external server wins: when `NEO4J_URI` is set, veil uses it (with `NEO4J_USER`,
`NEO4J_PASSWORD` and optionally `NEO4J_DATABASE`) and never starts its own. Otherwise the
settings are those of the local instance that `veil neo4j start` runs (graph/server/local.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import neo4j

from config.errors import EnvironmentProblem
from config.settings import environment


@dataclass(frozen=True)
class Neo4jSettings:
    """Where and as whom to connect. The password is kept out of repr so it is never logged."""

    uri: str
    user: str
    password: str = field(repr=False)
    database: str = "neo4j"


def external_settings() -> Neo4jSettings | None:
    """The server named by NEO4J_URI and friends, or None when NEO4J_URI is unset."""
    env = environment()
    uri = env.neo4j_uri
    if not uri:
        return None
    if env.neo4j_password is None:
        raise EnvironmentProblem(
            f"NEO4J_URI is set ({uri}) but NEO4J_PASSWORD is not: set NEO4J_PASSWORD "
            "(and NEO4J_USER if not 'neo4j'), or unset NEO4J_URI to use veil's local Neo4j"
        )
    return Neo4jSettings(
        uri=uri,
        user=env.neo4j_user,
        password=env.neo4j_password.get_secret_value(),
        database=env.neo4j_database,
    )


def neo4j_settings(
    start: bool = False, starting: Callable[[], AbstractContextManager[Any]] = nullcontext
) -> Neo4jSettings:
    """The one place that decides which Neo4j veil talks to: NEO4J_URI's server when set,
    else the local instance. With `start`, the local instance is started unless it runs
    already, inside `starting()` (a CLI's "Starting the local Neo4j..." spinner)."""
    external = external_settings()
    if external is not None:
        return external
    # Imported here because graph.server.local itself builds on this module.
    from graph.server.local import local_settings, server_config
    from graph.server.local import start as start_local

    if not start:
        return local_settings()
    with starting():
        return start_local(server_config()).settings


def open_driver(settings: Neo4jSettings, **config: Any) -> neo4j.Driver:
    """An official driver for `settings`; the caller closes it (`with open_driver(...) as d`)."""
    return neo4j.GraphDatabase.driver(
        settings.uri, auth=(settings.user, settings.password), **_config(config)
    )


def open_async_driver(settings: Neo4jSettings, **config: Any) -> neo4j.AsyncDriver:
    """`open_driver`'s async twin, for an event loop (`async with open_async_driver(...)`)."""
    return neo4j.AsyncGraphDatabase.driver(
        settings.uri, auth=(settings.user, settings.password), **_config(config)
    )


def _config(config: dict[str, Any]) -> dict[str, Any]:
    config.setdefault("connection_timeout", 10.0)
    # Warnings such as "property key does not exist" are normal for optional properties.
    config.setdefault("notifications_min_severity", neo4j.NotificationMinimumSeverity.OFF)
    return config
