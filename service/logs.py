"""Logging for the `veil` command: the rooms log their stages with the standard logging
module (`logging.getLogger(__name__)`), and this is where the command decides how much of
it reaches stderr.

Only veil's own rooms follow the chosen level; libraries (Splink, the Neo4j driver,
DuckDB) stay at WARNING, whose INFO lines would drown the stages. Rooms log counts, paths,
stages and seconds, never a full identifier (tests/test_logs.py checks a whole demo run's
DEBUG log for the world's resident ID numbers).
"""

from __future__ import annotations

import logging

ROOMS = ("config", "loaders", "linkage", "graph", "alerts", "service")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    """Send veil's log lines at `level` and above, and any library's warnings, to stderr."""
    logging.basicConfig(level=logging.WARNING, format=FORMAT, force=True)
    for room in ROOMS:
        logging.getLogger(room).setLevel(level.upper())
