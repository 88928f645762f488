"""The run-directory tables `veil load` writes: their Arrow schemas and a buffered writer.

These schemas are the contract with linkage/ (docs/ARCHITECTURE.md mirrors them). Every
mention is keyed by (source, record_id, slot); every fact names the slots of the record's
mentions it ties together. Full resident ID numbers never appear: only an HMAC token, a
masked display form and what the number says openly (region, birth date, sex).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_s, _d, _f, _i = pa.string(), pa.date32(), pa.float64(), pa.int64()
_list = pa.list_(pa.string())

SCHEMAS: dict[str, pa.Schema] = {
    "records": pa.schema([("source", _s), ("record_id", _s), ("file", _s), ("line", _i)]),
    "person_mentions": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("slot", _s),
            ("name", _s),
            ("name_raw", _s),
            ("id_status", _s),
            ("id_kind", _s),
            ("id_token", _s),
            ("id_display", _s),
            ("id_prefix", _s),
            ("id_suffix", _s),
            ("birth_date", _d),
            ("sex", _s),
            ("region_code", _s),
            ("phone", _s),
            ("address", _s),
        ]
    ),
    "company_mentions": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("slot", _s),
            ("name", _s),
            ("name_raw", _s),
            ("former_names", _list),
            ("uscc", _s),
            ("uscc_status", _s),
            ("org_code", _s),
            ("org_code_status", _s),
            ("reg_no", _s),
            ("reg_no_status", _s),
            ("region_code", _s),
            ("industry_code", _s),
            ("established", _d),
            ("address", _s),
            ("status", _s),
            ("registered_capital", _f),
            ("ended", _d),
        ]
    ),
    "roles": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("person_slot", _s),
            ("company_slot", _s),
            ("role", _s),
            ("role_raw", _s),
            ("valid_from", _d),
            ("valid_to", _d),
            ("observed_on", _d),
        ]
    ),
    "shareholdings": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("holder_slot", _s),
            ("holder_kind", _s),
            ("company_slot", _s),
            ("ratio", _f),
            ("subscribed_capital", _f),
            ("valid_from", _d),
            ("valid_to", _d),
        ]
    ),
    "punishments": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("decision_number", _s),
            ("party_slot", _s),
            ("party_kind", _s),
            ("responsible_slots", _list),
            ("categories", _list),
            ("category_raw", _s),
            ("decision_date", _d),
            ("agency", _s),
            ("legal_basis", _s),
            ("fine_amount", _f),
        ]
    ),
    "list_entries": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("list", _s),
            ("list_raw", _s),
            ("party_slot", _s),
            ("party_kind", _s),
            ("entered", _d),
            ("removed", _d),
            ("expires", _d),
            ("reason", _s),
            ("authority", _s),
            ("case_number", _s),
        ]
    ),
    "licences": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("licence_number", _s),
            ("holder_slot", _s),
            ("valid_from", _d),
            ("valid_to", _d),
            ("status", _s),
            ("status_raw", _s),
            ("scope", _s),
            ("issued", _d),
        ]
    ),
    "quarantine": pa.schema(
        [
            ("source", _s),
            ("file", _s),
            ("line", _i),
            ("record_id", _s),
            ("field", _s),
            ("raw_value", _s),
            ("reason", _s),
            ("detail", _s),
        ]
    ),
    "field_issues": pa.schema(
        [
            ("source", _s),
            ("record_id", _s),
            ("slot", _s),
            ("field", _s),
            ("raw_value", _s),
            ("reason", _s),
        ]
    ),
}

FACT_TABLES = ("roles", "shareholdings", "punishments", "list_entries", "licences")


class TableSink:
    """Collects rows for one table and streams them to Parquet in row groups.

    Rows arrive as tuples in schema order; buffering column-wise keeps a million-row
    load within a few hundred MB instead of materialising every table at once.
    """

    def __init__(self, name: str, directory: Path, flush_rows: int = 200_000):
        self.name = name
        self.schema = SCHEMAS[name]
        self.path = directory / f"{name}.parquet"
        self.flush_rows = flush_rows
        self.rows: list[tuple] = []
        self._writer: pq.ParquetWriter | None = None

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        table = pa.Table.from_arrays(
            [
                pa.array(col, type=field.type)
                for col, field in zip(columns, self.schema, strict=True)
            ],
            schema=self.schema,
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        self.flush()
        if self._writer is None:
            pq.write_table(self.schema.empty_table(), self.path, compression="zstd")
        else:
            self._writer.close()
