"""`veil explain`: why two mentions are (or are not) one entity, in the numbers that decided.

A reviewer looking at a merge needs the evidence, not a probability alone: which identifier
the two mentions share, what a reviewer already said about them, and how the model's
score was built, comparison by comparison. The score is recomputed with the run's own
saved model (RUN/models/{type}.json) through Splink, over the same features and the same
term-frequency tables `veil link` used (the provisional grouping is rebuilt the same way),
so the weights shown are exactly those in links.parquet, whether or not the pair was a
candidate there: a pair the blocking never met is still scored, which is how a reviewer
learns why two mentions stayed apart.

Resident IDs appear only masked, as everywhere outside the run directory: never in full,
never as the HMAC token, a mask with the birth month and day hidden (`display_mask`: the
two mentions of one person may be a court's 6+4 mask and a punishment's birth-date mask,
side by side the whole number), any resident ID in a mention's record key masked, and
in the waterfall chart's values the birth year alone and at most ten leading and four
trailing visible characters, in the explanation, its JSON or the chart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from splink.internals.charts import WaterfallChart
from splink.internals.settings_creator import SettingsCreator
from splink.internals.waterfall_chart import records_to_waterfall_data

from config.errors import InputError
from linkage import models
from linkage.features import KEY, company_context, company_features, person_features
from linkage.judgements import effective_judgements, parse_mention_ref, read_judgements
from linkage.resolver import IDENTIFIERS, provisional_grouping
from loaders import rundir
from loaders.identifiers import display_mask, masked_resident_ids
from loaders.rundir import JUDGEMENTS, MODELS

LINK_FIRST = "run `veil link --run {run}` first"

#: What each mention table shows of a mention: (name column, identifier display column).
DISPLAY = {models.PERSON: ("name", "id_display"), models.COMPANY: ("name", "uscc")}

#: Columns holding the HMAC token of a resident ID: masked before anything is shown.
TOKEN_COLUMNS = ("id_token",)


@dataclass
class MentionView:
    """What one mention says, safe to show: its name and the masked ID (person) or USCC."""

    ref: str
    name: str | None
    identifier: str | None
    entity_id: str


@dataclass
class LevelWeight:
    """One comparison's level for the pair and its match weight (TF adjustment included)."""

    comparison: str
    level: str
    match_weight: float
    tf_adjustment: float


@dataclass
class JudgementView:
    """The effective reviewer judgement on the pair (the latest line of the log)."""

    verdict: str
    reviewer: str
    reason: str
    at: str
    line: int


@dataclass
class Explanation:
    entity_type: str
    a: MentionView
    b: MentionView
    same_entity: bool
    shared_identifiers: list[str]
    judgement: JudgementView | None
    prior_match_weight: float
    comparisons: list[LevelWeight]
    match_weight: float
    match_probability: float
    model: str
    #: The scored pair as Splink returned it, resident-ID tokens masked: the waterfall's input.
    pair_record: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def verdict(self) -> str:
        return f"one entity: {self.a.entity_id}" if self.same_entity else "two entities"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["pair_record"]
        data["verdict"] = self.verdict
        return data


def _entities(run_dir: Path) -> pd.DataFrame:
    if not rundir.exists(run_dir, "entities"):
        raise InputError(str(run_dir), f"not linked yet: {LINK_FIRST.format(run=run_dir)}")
    return rundir.entities(run_dir, [*KEY, "entity_type", "entity_id"])


def _locate(entities: pd.DataFrame, ref: str, run_dir: Path) -> tuple[str, str]:
    """(entity_type, entity_id) of a mention reference; InputError naming it if unknown."""
    try:
        key = parse_mention_ref(ref)
    except ValueError as err:
        raise InputError(ref, f"not a mention reference: {err}") from None
    hit = entities[
        (entities["source"] == key[0])
        & (entities["record_id"] == key[1])
        & (entities["slot"] == key[2])
    ]
    if hit.empty:
        raise InputError(ref, f"no such person or company mention in {run_dir}")
    row = hit.iloc[0]
    return str(row["entity_type"]), str(row["entity_id"])


def _row(frame: pd.DataFrame, ref: str, run_dir: Path) -> int:
    source, record_id, slot = parse_mention_ref(ref)
    hit = np.flatnonzero(
        (frame["source"] == source).to_numpy()
        & (frame["record_id"] == record_id).to_numpy()
        & (frame["slot"] == slot).to_numpy()
    )
    if len(hit) == 0:
        raise InputError(
            ref, f"in entities.parquet but not in the mentions: {LINK_FIRST.format(run=run_dir)}"
        )
    return int(hit[0])


def _company_entity_ids(companies: pd.DataFrame, entities: pd.DataFrame, run_dir: Path) -> Any:
    """Company entity IDs in company_features row order, as link_run gave them."""
    mine = entities.loc[entities["entity_type"] == models.COMPANY, [*KEY, "entity_id"]]
    ids = companies[KEY].merge(mine, on=KEY, how="left")["entity_id"]
    if ids.isna().any():
        raise InputError(
            str(rundir.path(run_dir, "entities")),
            f"does not cover every company mention: {LINK_FIRST.format(run=run_dir)}",
        )
    return ids.to_numpy(dtype=object)


def _features(run_dir: Path, entity_type: str, entities: pd.DataFrame) -> pd.DataFrame:
    """The features link_run scored, persons with their company context."""
    companies = company_features(run_dir)
    if entity_type == models.COMPANY:
        return companies
    persons = person_features(run_dir)
    persons["context"] = company_context(
        persons, companies, _company_entity_ids(companies, entities, run_dir)
    )
    return persons


def _shared_identifiers(features: pd.DataFrame, i: int, j: int, entity_type: str) -> list[str]:
    shared = []
    for column in IDENTIFIERS[entity_type]:
        left, right = features.at[i, column], features.at[j, column]
        # pandas-stubs: pd.isna's scalar overload leaves out np.bool_, Period and Interval,
        # which .at is typed to return; pd.isna takes any object.
        if left is not None and right is not None and not pd.isna(left) and left == right:  # type: ignore[arg-type]
            shared.append("resident_id" if column == "id_token" else column)
    return shared


def _display(run_dir: Path, entity_type: str, ref: str, entity_id: str) -> MentionView:
    name_column, id_column = DISPLAY[entity_type]
    table = rundir.table(run_dir, f"{entity_type}_mentions", [*KEY, name_column, id_column])
    row = table.iloc[_row(table, ref, run_dir)]

    def text(value: Any) -> str | None:
        return None if value is None or pd.isna(value) or value == "" else str(value)

    identifier = text(row[id_column])
    if entity_type == models.PERSON and identifier is not None:
        identifier = display_mask(identifier)
    return MentionView(masked_resident_ids(ref), text(row[name_column]), identifier, entity_id)


def _judgement(run_dir: Path, a: str, b: str) -> JudgementView | None:
    verdicts = effective_judgements(read_judgements(run_dir / JUDGEMENTS))
    pair = {parse_mention_ref(a), parse_mention_ref(b)}
    # pandas-stubs type each itertuples field as the union of all scalars; the columns are
    # JUDGEMENT_COLUMNS (linkage/judgements.py): strings, `at` a Timestamp, `line` an int.
    row: Any
    for row in verdicts.itertuples(index=False):
        left = (row.a_source, row.a_record_id, row.a_slot)
        right = (row.b_source, row.b_record_id, row.b_slot)
        if {left, right} == pair:
            return JudgementView(
                row.verdict,
                masked_resident_ids(row.reviewer),
                masked_resident_ids(row.reason),
                row.at.isoformat(),
                int(row.line),
            )
    return None


def _mask_tokens(record: dict[str, Any], a_display: str | None, b_display: str | None) -> None:
    """Put the masked display in place of resident-ID tokens (the waterfall shows values)."""
    for column in TOKEN_COLUMNS:
        for side, display in (("_l", a_display), ("_r", b_display)):
            name = column + side
            if name in record and record[name] is not None:
                record[name] = display or "(ID hidden)"
            record.pop(f"tf_{name}", None)


def _shown_values(record: dict[str, Any]) -> None:
    """A person pair's values as the waterfall may show them: the birth year alone (a 6+4
    mask and the birth date are the whole number), visible ends cut to what a display mask
    shows, and every text through `masked_resident_ids`."""
    for name, value in record.items():
        if value is None:
            continue
        if name.startswith("birth_date_"):
            record[name] = str(value)[:4]
        elif name.startswith("id_prefix_"):
            record[name] = str(value)[:10]
        elif name.startswith("id_suffix_"):
            record[name] = str(value)[-4:]
        elif isinstance(value, str):
            record[name] = masked_resident_ids(value)


def _levels(model: models.Model, record: dict[str, Any]) -> list[LevelWeight]:
    out = []
    for name, labels in model.comparison_labels():
        gamma = int(record[f"gamma_{name}"])
        tf = record.get(f"mw_tf_adj_{name}")
        tf = 0.0 if tf is None or pd.isna(tf) else float(tf)
        weight = float(record[f"mw_{name}"]) + tf
        out.append(LevelWeight(name, labels.get(gamma, str(gamma)), weight, tf))
    return out


def _score(
    features: pd.DataFrame, entity_type: str, model_path: Path, i: int, j: int
) -> tuple[dict[str, Any], list[LevelWeight], float]:
    """Score rows i < j with the saved model, TF tables as link_run registered them."""
    _, provisional = provisional_grouping(features, entity_type)
    model = models.load(features, entity_type, model_path, provisional)
    try:
        linker = model.linker
        left = linker.table_management.register_table(
            features.iloc[[i]].reset_index(drop=True), "__veil_explain_l", overwrite=True
        )
        right = linker.table_management.register_table(
            features.iloc[[j]].reset_index(drop=True), "__veil_explain_r", overwrite=True
        )
        records = linker.inference.score_pair(left, right).as_record_list()
        if len(records) != 1:
            raise RuntimeError(f"Splink scored {len(records)} rows for one pair")
        record = records[0]
        levels = _levels(model, record)
        prior = model.prior_match_weight()
    finally:
        model.con.close()
    return record, levels, prior


def explain_pair(run_dir: Path, a: str, b: str) -> Explanation:
    """Explain the pair of mentions `a` and `b` ("source:record_id:slot") of a linked run."""
    run_dir = Path(run_dir)
    entities = _entities(run_dir)
    type_a, entity_a = _locate(entities, a, run_dir)
    type_b, entity_b = _locate(entities, b, run_dir)
    if type_a != type_b:
        raise InputError(
            f"{a} / {b}",
            f"one is a {type_a} mention and the other a {type_b} mention: only two mentions "
            "of the same kind can be one entity",
        )
    if parse_mention_ref(a) == parse_mention_ref(b):
        raise InputError(a, "is the same mention twice: name two different mentions")
    entity_type = type_a
    model_path = run_dir / MODELS / f"{entity_type}.json"
    if not model_path.is_file():
        raise InputError(str(model_path), f"no saved model: {LINK_FIRST.format(run=run_dir)}")
    features = _features(run_dir, entity_type, entities)
    i, j = _row(features, a, run_dir), _row(features, b, run_dir)
    view_a = _display(run_dir, entity_type, a, entity_a)
    view_b = _display(run_dir, entity_type, b, entity_b)
    # links.parquet puts the lower mention_id on the left: score in that orientation.
    low, high = min(i, j), max(i, j)
    record, levels, prior_weight = _score(features, entity_type, model_path, low, high)
    displays = (view_a.identifier, view_b.identifier)
    if i > j:
        displays = displays[::-1]
    if entity_type == models.PERSON:
        _mask_tokens(record, *displays)
        _shown_values(record)
    return Explanation(
        entity_type=entity_type,
        a=view_a,
        b=view_b,
        same_entity=entity_a == entity_b,
        shared_identifiers=_shared_identifiers(features, i, j, entity_type),
        judgement=_judgement(run_dir, a, b),
        prior_match_weight=prior_weight,
        comparisons=levels,
        match_weight=float(record["match_weight"]),
        match_probability=float(record["match_probability"]),
        model=str(model_path),
        pair_record=record,
    )


def write_waterfall(
    source: Explanation | dict[str, Any], path: Path, model: Path | None = None
) -> Path:
    """Splink's waterfall chart of one scored pair, as standalone HTML (scripts inline, so it
    opens offline). `source` is an Explanation, or a pair record from Splink's scoring with
    `model` the saved model JSON that scored it."""
    if isinstance(source, Explanation):
        record, model = source.pair_record, Path(source.model)
    elif model is None:
        raise ValueError("a pair record needs the saved model that scored it")
    else:
        record = source
    settings = SettingsCreator.from_path_or_dict(models.read_saved(Path(model))).get_settings(
        "duckdb"
    )
    # Splink's waterfall helpers are unannotated.
    data = records_to_waterfall_data([record], settings, False)  # type: ignore[no-untyped-call]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    WaterfallChart(data, filter_nulls=True).save(str(path), inline=True)  # type: ignore[no-untyped-call]
    return path
