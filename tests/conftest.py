"""Shared fixtures. Neo4j: one throwaway local instance per test session, started on demand.
The synthetic world: generated, loaded and linked once per session (tests/shared_world.py).

If NEO4J_URI is set, the tests use that server instead of starting one
(see graph/server/connection.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import neo4j
import pytest
from shared_world import (
    WORLD_COMPANIES,
    WORLD_SECRET,
    WORLD_SEED,
    WORLD_XLSX_ROWS,
    changed_files,
    copy_tree,
    snapshot,
)

from graph.server import local
from graph.server.connection import Neo4jSettings, external_settings, open_driver
from graph.server.local import ServerConfig, start

if TYPE_CHECKING:  # the world's fixtures import what they run when first used (~1 s)
    from fastapi.testclient import TestClient
    from graph_runs import RunBuilder

    from linkage.run import LinkSummary

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


# -- the session's synthetic world ---------------------------------------------------------

#: The session-scoped directories a test may read but never write.
_SHARED_DIRS = ("world_dir", "loaded_run", "linked_run")


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's world (WORLD_COMPANIES, WORLD_SEED): extracts, sources.yaml, truth."""
    from world.generate import generate_world

    out = tmp_path_factory.mktemp("shared-world") / "world"
    generate_world(WORLD_COMPANIES, WORLD_SEED, out, xlsx_max_rows=WORLD_XLSX_ROWS)
    return out


@pytest.fixture(scope="session")
def _loaded(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from loaders.run import load_run

    run = tmp_path_factory.mktemp("shared-loaded") / "run"
    return run, load_run(world_dir / "sources.yaml", run, secret=WORLD_SECRET)


@pytest.fixture(scope="session")
def loaded_run(_loaded: tuple[Path, dict]) -> Path:
    """The session's world through the loader (secret WORLD_SECRET), not linked."""
    return _loaded[0]


@pytest.fixture(scope="session")
def load_manifest(_loaded: tuple[Path, dict]) -> dict:
    """What load_run returned for `loaded_run`."""
    return _loaded[1]


@pytest.fixture(scope="session")
def _linked(loaded_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LinkSummary]:
    from linkage.run import link_run

    run = copy_tree(loaded_run, tmp_path_factory.mktemp("shared-linked") / "run")
    return run, link_run(run, models_dir=run / "no-saved-models")


@pytest.fixture(scope="session")
def linked_run(_linked: tuple[Path, LinkSummary]) -> Path:
    """`loaded_run` linked, its models trained on itself (saved in its models/)."""
    return _linked[0]


@pytest.fixture(scope="session")
def link_summary(_linked: tuple[Path, LinkSummary]) -> LinkSummary:
    """What link_run returned for `linked_run`."""
    return _linked[1]


@pytest.fixture
def copy_run(tmp_path: Path) -> Callable[..., Path]:
    """A private copy, in the test's tmp_path, of a shared directory the test will write."""
    return lambda source, name="run": copy_tree(source, tmp_path / name)


@pytest.fixture(autouse=True)
def _shared_world_untouched(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that uses a shared directory leaves it as it found it: no file added, removed
    or rewritten (its size and mtime checked after the test, so the test that wrote is the
    one that fails)."""
    names = [n for n in _SHARED_DIRS if n in request.fixturenames]
    if not names:
        yield
        return
    roots = {n: request.getfixturevalue(n) for n in names}
    before = {n: snapshot(root) for n, root in roots.items()}
    yield
    for name, root in roots.items():
        touched = changed_files(before[name], snapshot(root))
        if touched:
            pytest.fail(f"{request.node.nodeid} changed the shared {name}: {touched[:5]}")


# -- the session world in the graph, and the API served over it ---------------------------


@pytest.fixture(scope="module")
def swept_world(neo4j_driver: neo4j.Driver, linked_run: Path) -> neo4j.Driver:
    """The session world in the graph (other modules wipe it: loaded per module), control
    derived and the alert rules swept, as `veil demo` leaves it."""
    from alerts.store import sweep
    from config.graph import load_graph_config
    from config.rules import load_rules
    from graph.analysis import run_control
    from graph.load import load_run

    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")
    load_run(neo4j_driver, linked_run, secret=WORLD_SECRET)
    settings = load_graph_config().control
    run_control(neo4j_driver, settings)
    sweep(neo4j_driver, load_rules(), settings)
    return neo4j_driver


@pytest.fixture(scope="module")
def api_graph(
    neo4j_driver: neo4j.Driver, api_world: RunBuilder, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A graph that holds the module's `api_world` alone (a RunBuilder fixture each API test
    module defines: the small world it asks about); its run directory."""
    from graph.load import load_run

    neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")
    run = api_world.write(tmp_path_factory.mktemp("api") / "run")
    load_run(neo4j_driver, run)
    return run


@pytest.fixture(scope="module")
def client(neo4j_server: Neo4jSettings, api_graph: Path) -> Iterator[TestClient]:
    """The app through FastAPI's test client (over ASGI) on the module's `api_graph`."""
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    with TestClient(create_app(neo4j_server)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def served_api(swept_world: neo4j.Driver, neo4j_server: Neo4jSettings) -> Iterator[str]:
    """The app under uvicorn on a loopback port over `swept_world`, as `veil serve` runs
    it, with the world's ID-token secret (its screener refuses any other); yields its base
    URL."""
    import threading
    import time

    import uvicorn

    from service.api.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VEIL_ID_SECRET", WORLD_SECRET.decode())
        port = local.free_port()
        config = uvicorn.Config(
            create_app(neo4j_server), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
