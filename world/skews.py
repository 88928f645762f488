"""Loaded runs bent out of shape, to show that linkage finishes whatever the data's habits.

Each skew rewrites a run directory's mention tables in place (their schema kept): every
address equal, no masked IDs, a single source, almost no repeated mentions. They are for
tests and benchmarks of training, beside the generator; production code never calls them.
A run thinned by `single_source` or `few_repeats` no longer covers the truth's mentions and
cannot be scored against it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MENTIONS = ("person_mentions", "company_mentions")
ID_FIELDS = ("id_status", "id_kind", "id_token", "id_display", "id_prefix", "id_suffix")
ONE_ADDRESS = "上海市黄浦区人民大道1号"


def _rewrite(run: Path, table: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    path = run / f"{table}.parquet"
    schema = pq.read_schema(path)
    frame = change(pq.read_table(path).to_pandas())
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), path)


def as_generated(run: Path) -> None:
    """No change."""


def same_address(run: Path) -> None:
    for table in MENTIONS:
        _rewrite(run, table, lambda f: f.assign(address=ONE_ADDRESS))


def no_masked_ids(run: Path) -> None:
    def unmask(frame: pd.DataFrame) -> pd.DataFrame:
        masked = frame["id_kind"] == "masked"
        for column in ID_FIELDS:
            frame[column] = frame[column].where(~masked, None)
        return frame

    _rewrite(run, "person_mentions", unmask)


def unmasked_one_address(run: Path) -> None:
    no_masked_ids(run)
    same_address(run)


def single_source(run: Path) -> None:
    for table in MENTIONS:
        _rewrite(run, table, lambda f: f[f["source"] == "company_registry"])


def few_repeats(run: Path) -> None:
    """The registry, plus one row in fifty of every other source."""
    for table in MENTIONS:
        _rewrite(run, table, lambda f: f[(f["source"] == "company_registry") | (f.index % 50 == 0)])


#: Skews after which the run still holds every mention of the world.
SCORABLE = {as_generated, same_address, no_masked_ids, unmasked_one_address}
