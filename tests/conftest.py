"""Shared fixtures. Neo4j: one throwaway local instance per test session, started on demand.

If NEO4J_URI is set, the tests use that server instead of starting one
(see graph/server/connection.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import neo4j
import pytest

from graph.server import local
from graph.server.connection import Neo4jSettings, external_settings, open_driver
from graph.server.local import ServerConfig, start

#: Fixtures that need a running Neo4j (and so Java and the Maven jars): a test whose
#: fixture closure holds one is marked `neo4j`, so `make test-fast` can leave it out.
_NEO4J_FIXTURES = frozenset({"neo4j_server", "neo4j_driver", "free_port"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _NEO4J_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.neo4j)


@pytest.fixture(scope="session", autouse=True)
def _isolated_veil_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never touch the developer's ./.veil: own home, own ID-token secret."""
    saved = {k: os.environ.get(k) for k in ("VEIL_HOME", "VEIL_ID_SECRET")}
    os.environ["VEIL_HOME"] = str(tmp_path_factory.mktemp("veil-home"))
    os.environ["VEIL_ID_SECRET"] = "veil-test-secret"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def free_port() -> int:
    """A free Bolt port for a test that starts its own instance."""
    return local.free_port()


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jSettings]:
    """Settings of a Neo4j for this session: NEO4J_URI's server, or a local throwaway one.

    The local one runs in watch-stdin mode, so even a killed test session leaves no JVM.
    """
    external = external_settings()
    if external is not None:
        yield external
        return
    config = ServerConfig(
        data_dir=tmp_path_factory.mktemp("neo4j"),
        port=local.free_port(),
        heap="512m",
        pagecache="128m",
        tx_max="256m",
    )
    server = start(config, watch_stdin=True)
    try:
        yield server.settings
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_server: Neo4jSettings) -> Iterator[neo4j.Driver]:
    """One official driver for the session's Neo4j."""
    with open_driver(neo4j_server) as driver:
        yield driver
