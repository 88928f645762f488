"""The session's synthetic world: its size, seed and secret, and what guards it.

conftest.py generates it once per session (`world_dir`), loads it once (`loaded_run`) and
links it once (`linked_run`); every module that only reads them shares them. A test that
writes works on a copy (`copy_run`), and `changed_files` lets conftest check after each test
that the shared directories are as they were.

600 companies, seed 11: the size tests/test_world.py, test_world_load.py and
test_linkage.py had already settled on (large enough to plant every alert variant, near
miss and broken-row kind, and for the linkage figures to mean something), small enough to
link in seconds. Key personnel is split at 700 rows a workbook so the world has a
multi-file source (test_world.py checks the split, the loader reads it).
"""

from __future__ import annotations

import shutil
from pathlib import Path

WORLD_COMPANIES = 600
WORLD_SEED = 11
WORLD_XLSX_ROWS = 700
#: The ID-token secret of the shared load (test_linkage.py's, whose figures were measured
#: with it).
WORLD_SECRET = b"link-test"

Snapshot = dict[str, tuple[int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file under `root`: its size and modification time, by relative path."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def changed_files(before: Snapshot, after: Snapshot) -> list[str]:
    """The files added, removed or rewritten between two snapshots."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def copy_tree(source: Path, target: Path) -> Path:
    """A private copy of a shared directory, for a test that writes."""
    shutil.copytree(source, target)
    return target
