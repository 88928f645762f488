"""The licence counter's per-request shortcuts answer as the batch code they stand for.

`POST /screen` features one to three applicants a request by linkage.features'
person_feature_row (one row, no Arrow) instead of the batch person_feature_columns, and
looks up an application's blocking keys with one hash call. Held here to the batch: on
every person mention of the session's linked world, on generated names and IDs (valid,
15-digit, masked in any pattern, malformed, missing), and on a few hundred applicants
drawn from the world (their names as written, in traditional characters and in pinyin;
full IDs, 6+4 and 4+4 masks, the birth date alone, old 15-digit numbers, none), whose
screened answer must be what the batch features and the mentions each blocking rule
meets (found by filtering the run's features, not through the hashed index) give.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_world import WORLD_SECRET

from config.linkage import load_linkage_config
from linkage import models
from linkage.features import (
    PERSON_INPUT,
    company_context,
    person_feature_columns,
    person_feature_row,
)
from linkage.screen import (
    BLOCKS,
    CONTEXT_BLOCK,
    Applicant,
    Screener,
    ScreenRequest,
    applicant_mention,
)
from linkage.waves import resolved_features
from loaders import rundir
from loaders.identifiers import make_resident_id, parse_resident_id
from world import names as wn

pytestmark = pytest.mark.slow


def _batch(mentions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """person_mentions rows featured by the batch, as `veil link` features a run."""
    schema = rundir.TABLES["person_mentions"].schema
    table = pa.Table.from_pylist(mentions, schema=schema).select(PERSON_INPUT)
    columns = person_feature_columns(table)
    return [{c: values[i] for c, values in columns.items()} for i in range(len(mentions))]


def _kind(value: Any) -> type:
    """A value's type, numpy's bool counted as Python's."""
    return bool if isinstance(value, np.bool_) else type(value)


def _same(batch: dict[str, Any], one: dict[str, Any]) -> bool:
    """The same features in the same order, equal values of the same types (a None is
    not a NaN, a date string not a date)."""
    return (
        list(batch) == list(one)
        and batch == one
        and all(_kind(batch[c]) is _kind(one[c]) for c in batch)
    )


def test_one_row_features_equal_the_batch_on_every_mention(linked_run: Path) -> None:
    table = rundir.arrow(linked_run, "person_mentions", PERSON_INPUT, present_only=True)
    columns = person_feature_columns(table)
    kinds: Counter[str | None] = Counter()
    for i, mention in enumerate(table.to_pylist()):
        batch = {c: values[i] for c, values in columns.items()}
        assert _same(batch, person_feature_row(mention)), (i, mention)
        kinds[mention["id_kind"]] += 1
        kinds["romanised"] += bool(batch["is_romanised"])
        kinds["traditional"] += mention["name"] is not None and batch["name_simplified"] not in (
            None,
            mention["name"],
        )
    print(f"\n{table.num_rows} mentions: {dict(kinds)}")
    for kind in ("18", "masked", None, "romanised", "traditional"):
        assert kinds[kind] > 0, f"the world has no mention of {kind}: the test says less"


# -- generated mentions ------------------------------------------------------------------

NAME_ALPHABET = "张伟玮章王芳李娜張偉陳靜沈单曾欧阳司马乾 ·・.-,ZHANGWEIzhangwei　ＡＢü"
ID_ALPHABET = "0123456789Xx*-＊ "


@st.composite
def _resident_ids(draw: st.DrawFn) -> str | None:
    """An ID as a clerk or an agency may write it: valid, old, masked, mistyped, none."""
    code = make_resident_id(
        draw(st.text(alphabet="0123456789", min_size=6, max_size=6)),
        draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31))),
        draw(st.integers(min_value=0, max_value=999)),
    )
    shown = draw(st.lists(st.booleans(), min_size=18, max_size=18))
    form = draw(st.sampled_from(["full", "old", "6+4", "4+4", "3+4", "born", "any", "junk"]))
    masks = {
        "full": code,
        "old": code[:6] + code[8:17],
        "6+4": code[:6] + "*" * 8 + code[14:],
        "4+4": code[:4] + "*" * 10 + code[14:],
        "3+4": code[:3] + "*" * 11 + code[14:],
        "born": "*" * 6 + code[6:14] + "*" * 4,
        "any": "".join(c if s else "*" for c, s in zip(code, shown, strict=True)),
        "junk": draw(st.text(alphabet=ID_ALPHABET, max_size=20)),
    }
    return draw(st.one_of(st.none(), st.just(masks[form])))


_texts = st.one_of(st.none(), st.just(""), st.text(alphabet="上海路1号 ", max_size=6))


@st.composite
def _mentions(draw: st.DrawFn) -> dict[str, Any]:
    """A person_mentions row: a name, the loader's reading of an ID, what else is known;
    now and then an ID display or prefix no parser writes (the rules must hold anyway)."""
    rid = parse_resident_id(draw(_resident_ids()), b"generated")
    mention: dict[str, Any] = {
        "source": "s",
        "record_id": "r",
        "slot": "p",
        "name": draw(st.one_of(st.none(), st.text(alphabet=NAME_ALPHABET, max_size=12))),
        "id_kind": rid.kind,
        "id_token": rid.token,
        "id_display": rid.display,
        "id_prefix": rid.visible_prefix,
        "id_suffix": rid.visible_suffix,
        "birth_date": rid.birth_date
        or draw(st.one_of(st.none(), st.dates(min_value=date(1, 1, 1)))),
        "sex": rid.sex or draw(st.sampled_from([None, "", "M", "F"])),
        "phone": draw(_texts),
        "address": draw(_texts),
    }
    if draw(st.booleans()):
        mention |= {
            "id_kind": draw(st.sampled_from([None, "18", "15_upgraded", "masked", "other"])),
            "id_display": draw(st.one_of(st.none(), st.text(alphabet="1２*X", max_size=19))),
            "id_prefix": draw(st.one_of(st.none(), st.text(alphabet="1２*", max_size=8))),
        }
    return mention


@settings(max_examples=300, deadline=None)
@given(st.lists(_mentions(), min_size=1, max_size=8))
def test_one_row_features_equal_the_batch_on_generated_mentions(
    mentions: list[dict[str, Any]],
) -> None:
    for mention, batch in zip(mentions, _batch(mentions), strict=True):
        assert _same(batch, person_feature_row(mention)), mention


# -- applicants from the world, screened ---------------------------------------------------


def _applications(world_dir: Path, count: int) -> list[ScreenRequest]:
    """`count` applications of three of the world's persons each, in every form of name
    and ID the counter sees, for a registered company (by USCC) or a new one."""
    rng, np_rng = random.Random(15), np.random.default_rng(15)
    truth = world_dir / "truth"
    persons = pd.read_parquet(truth / "persons.parquet")
    companies = pd.read_parquet(truth / "companies.parquet").dropna(subset=["uscc"])
    out = []
    for n in range(count):
        people = []
        for k, who in enumerate(persons.iloc[rng.sample(range(len(persons)), 3)].itertuples()):
            code, form = who.id_number, (3 * n + k) % 6
            shown = [
                code,
                code[:6] + "*" * 8 + code[14:],
                code[:4] + "*" * 10 + code[14:],
                "*" * 6 + code[6:14] + "*" * 4,
                code[:6] + code[8:17] if code[6:8] == "19" else code,
                None,
            ][form]
            name = [
                who.name,
                wn.traditional(who.name),
                wn.pinyin_name(who.surname, who.given_name, np_rng),
            ][(n + k) % 3]
            role = ("legal_rep", "officer", "shareholder")[k]
            people.append(Applicant(role=role, name=name, id_number=shown))
        company = companies.iloc[rng.randrange(len(companies))]
        where: dict[str, Any] = (
            {"uscc": company["uscc"]}
            if n % 2
            else {"company_name": f"新{company['name']}", "region_code": "310115"}
        )
        out.append(ScreenRequest(persons=people, **where))
    return out


def _run_features(run: Path) -> pd.DataFrame:
    """The run's person features as the screener indexes them (context, blocking keys)."""
    companies = resolved_features(models.COMPANY, run)
    persons = resolved_features(models.PERSON, run)
    persons["context"] = company_context(
        persons, companies, companies["entity_id"].to_numpy(dtype=object)
    )
    models.add_blocking_keys(persons, models.PERSON)
    return persons


def _met(frame: pd.DataFrame, row: dict[str, Any]) -> tuple[np.ndarray, int]:
    """The run's rows each blocking rule meets for the applicant, by filtering the
    features (no index, no hash); and how many only the company context meets."""
    met = np.zeros(len(frame), dtype=bool)
    for run_columns, mine, needs_mask in BLOCKS:
        values = [row[c] for c in mine]
        if any(v is None for v in values):
            continue
        rule = np.ones(len(frame), dtype=bool)
        for column, value in zip(run_columns, values, strict=True):
            rule &= (frame[column] == value).to_numpy(dtype=bool)
        if needs_mask and not row["id_masked"]:
            rule &= frame["id_masked"].to_numpy(dtype=bool)
        met |= rule
    context_column, surname_column = CONTEXT_BLOCK
    context = np.zeros(len(frame), dtype=bool)
    if row[surname_column] is not None:
        shares = [bool(set(c) & set(row[context_column])) for c in frame[context_column]]
        context = np.array(shares) & (frame[surname_column] == row[surname_column]).to_numpy()
    return np.flatnonzero(met | context), int((context & ~met).sum())


def test_the_screener_answers_as_the_batch_path(linked_run: Path, world_dir: Path) -> None:
    screener = Screener(linked_run, load_linkage_config().screening, WORLD_SECRET, in_child=False)
    frame = _run_features(linked_run)
    assert frame["entity_id"].tolist() == screener.indexed.shown["entity_id"]
    seen: Counter[str] = Counter()
    for request in _applications(world_dir, 120):
        screened = screener.screen(request)
        context = [screened.answer.company.entity_id] if screened.answer.company else []
        rids = [parse_resident_id(p.id_number, WORLD_SECRET) for p in request.persons]
        mentions = [
            applicant_mention(i, p, rid)._asdict()
            for i, (p, rid) in enumerate(zip(request.persons, rids, strict=True))
        ]
        for k, (person, rid, batch, row, answer) in enumerate(
            zip(
                request.persons,
                rids,
                _batch(mentions),
                screened.rows,
                screened.answer.persons,
                strict=True,
            )
        ):
            assert _same(batch | {"context": context}, row), (person, k)
            met, context_only = _met(frame, batch | {"context": context})
            expected = screener._person(person, batch | {"context": context}, rid.display, met)
            assert answer == expected, person
            assert answer.scored_mentions == len(met)
            seen["context only"] += context_only
            seen["candidates"] += len(answer.candidates)
            seen[f"{rid.kind}: by the ID"] += any(
                c.evidence == "identifier:id_token" for c in answer.candidates
            )
            seen[f"{rid.kind}: strong"] += any(c.strong for c in answer.candidates)
    print(f"\n{dict(seen)}")
    for what in (
        "candidates",
        "context only",
        "18: by the ID",
        "15_upgraded: by the ID",
        "masked: strong",
    ):
        assert seen[what] > 0, f"no applicant reached {what}: the test says less"
