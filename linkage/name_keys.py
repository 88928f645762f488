"""The company_name_keys table: what finds each company entity by name.

`veil link` writes it with the entities; `veil graph load` puts the keys on the Company
nodes, where the name search (graph.queries.search_companies) looks them up. The search
standardises a query with the same function (linkage.company_names.search_keys), so every
form of a name a company's records give (current or former, simplified or traditional,
bracketed region, romanised) finds it. graph/ cannot standardise names itself: it knows
linkage only by the files linkage wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from linkage.company_names import company_from_simplified, search_keys
from linkage.features import KEY
from linkage.names import simplify_many
from loaders import rundir

#: The graph stores each list as one string with its items between bars (`|a|b|`), so a
#: bar inside a key would split it.
_BAR = "|"


def company_name_keys(run_dir: Path, entities: pd.DataFrame) -> pa.Table:
    """One row per company entity of `entities` (run, source, record_id, slot, entity_type,
    entity_id; `run` relative to `run_dir`): the sorted distinct keys, sounds and forms of
    every name and former name its mentions give."""
    companies = entities.loc[entities["entity_type"] == "company", ["run", *KEY, "entity_id"]]
    frames = [
        rundir.table(Path(run_dir) / run, "company_mentions", [*KEY, "name", "former_names"])
        .assign(run=run)
        .merge(companies, on=["run", *KEY])
        for run in sorted(companies["run"].unique())
    ]
    schema = rundir.TABLES["company_name_keys"].schema
    if not frames:
        return rundir.conform("company_name_keys", schema.empty_table())
    mentions = pd.concat(frames, ignore_index=True)
    names = pd.concat(
        [
            mentions[["entity_id", "name"]],
            mentions[["entity_id", "former_names"]]
            .explode("former_names")
            .rename(columns={"former_names": "name"}),
        ],
        ignore_index=True,
    ).dropna()
    names = names[names["name"] != ""].drop_duplicates()
    texts = list(dict.fromkeys(names["name"]))
    keyed = {
        text: search_keys(company_from_simplified(simple))
        for text, simple in zip(texts, simplify_many(texts), strict=True)
    }
    found: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for entity_id, text in zip(names["entity_id"], names["name"], strict=True):
        k = keyed[text]
        keys, sounds, forms = found.setdefault(entity_id, (set(), set(), set()))
        keys.add(k.key)
        sounds.update((k.sound, k.regional_sound))
        forms.add(k.form)
    ids = sorted(found)
    columns: dict[str, list[Any]] = {"entity_id": ids}
    for n, column in enumerate(("keys", "sounds", "forms")):
        columns[column] = [_listed(found[i][n]) for i in ids]
    return rundir.conform("company_name_keys", pa.table(columns, schema=schema))


def _listed(values: set[str]) -> list[str]:
    return sorted(v.replace(_BAR, " ") for v in values if v)
