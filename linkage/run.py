"""`veil link` and `veil model train`: mentions of a run directory -> entities and links.

Companies are resolved first, because a person's strongest evidence after an ID number is
the company they appear in: person mentions then carry the company entities of their
record as context. For each entity type (linkage/resolver.py): deterministic links
(identifiers), Splink scores for candidate pairs, then constrained clustering (reviewers'
"different", two different identifiers and two resident IDs, full or masked, disagreeing
in a character both show forbid a merge), then entity IDs kept stable against the
previous result.

Outputs, staged and moved into place together (loaders/rundir.py has the schemas):
entities.parquet (last), links.parquet, suspects.parquet, entity_changes.parquet,
company_name_keys.parquet (what finds each company by name), link_report.json, and the
models used under models/ (a copy, so a run records exactly what decided it) with their
term-frequency tables.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from config.errors import InputError
from config.linkage import LinkageConfig, load_linkage_config
from config.progress import Progress
from config.settings import veil_home
from linkage import models
from linkage.features import company_context, company_features, person_features
from linkage.judgements import effective_judgements, read_judgements
from linkage.link_rows import write_links
from linkage.name_keys import company_name_keys
from linkage.resolver import EntityResult, Resolver, announce
from linkage.waves import combined_features, linked_entities, previous_ids
from loaders import rundir
from loaders.rundir import JUDGEMENTS, LINK_ERROR_LOG, LINK_REPORT, MODELS, Staged

log = logging.getLogger(__name__)


def default_models_dir() -> Path:
    return veil_home() / "models"


@dataclass
class LinkSummary:
    run_dir: str
    base: str | None
    person: EntityResult
    company: EntityResult
    judgements: int
    warnings: list[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _model_path(models_dir: Path | None, entity_type: str) -> Path | None:
    return None if models_dir is None else models_dir / f"{entity_type}.json"


def link_run(
    run_dir: Path,
    *,
    wave: Path | None = None,
    models_dir: Path | None = None,
    judgements: Path | None = None,
    config: LinkageConfig | None = None,
    progress: Progress | None = None,
) -> LinkSummary:
    """Resolve a run's mentions into entities; write the outputs into the run directory.

    Saved models in `models_dir` are used when present (default: <veil home>/models);
    otherwise each model is trained on this run and a copy saved with the outputs.

    With `wave`, RUN_DIR is a linked base and `wave` a newly loaded run: the wave's mentions
    are scored against the base's and among themselves (old pairs are not scored again),
    the base's entities are kept together and keep their IDs, and the outputs, covering
    every mention so far, go to the wave's directory (the base is not touched). The base's
    models are used unless `models_dir` holds saved ones.
    """
    started = time.perf_counter()
    config = config or load_linkage_config()
    models_dir = default_models_dir() if models_dir is None else models_dir
    out_dir = run_dir if wave is None else wave
    base = None
    if wave is not None:
        base = linked_entities(run_dir, wave)
        if base is None:
            raise InputError(
                str(rundir.path(run_dir, "entities")),
                "a wave is linked against a linked base: run `veil link --run` on it first",
            )
    paths = [judgements] if judgements else [out_dir / JUDGEMENTS]
    if wave is not None:
        paths.insert(0, run_dir / JUDGEMENTS)
    verdicts = effective_judgements(
        pd.concat([read_judgements(p) for p in paths], ignore_index=True)
    )
    (out_dir / LINK_ERROR_LOG).unlink(missing_ok=True)
    warnings: list[str] = []
    with Staged(out_dir, "link") as staged:
        previous = base if base is not None else linked_entities(out_dir, out_dir)
        fallback = None if wave is None else run_dir / MODELS
        resolved = _resolve_all(
            out_dir,
            base,
            previous,
            (models_dir, fallback),
            verdicts,
            config,
            staged,
            progress,
            warnings,
        )
        _write(out_dir, staged, resolved)
    person, company = resolved["person"], resolved["company"]
    summary = LinkSummary(
        run_dir=str(out_dir),
        base=None if wave is None else str(run_dir),
        person=person.result(person.model_source, len(person.suspect_rows)),
        company=company.result(company.model_source, len(company.suspect_rows)),
        judgements=len(verdicts),
        warnings=sorted(set(warnings)),
        seconds=round(time.perf_counter() - started, 3),
    )
    for result in (summary.company, summary.person):
        log.info(
            "%s: %d mentions -> %d entities (%d scored pairs, %d merging, %d held back)",
            result.entity_type,
            result.mentions,
            result.entities,
            result.scored_pairs,
            result.merging_pairs,
            result.held_back,
        )
    (out_dir / LINK_REPORT).write_text(
        json.dumps(summary.as_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return summary


def _saved_model(models: tuple[Path, Path | None], entity_type: str) -> Path | None:
    for directory in models:
        path = _model_path(directory, entity_type)
        if path is not None and path.is_file():
            return path
    return None


def _resolve_all(
    out_dir: Path,
    base: pd.DataFrame | None,
    previous: pd.DataFrame | None,
    model_dirs: tuple[Path, Path | None],
    verdicts: pd.DataFrame,
    config: LinkageConfig,
    staged: Staged,
    progress: Progress | None,
    warnings: list[str],
) -> dict[str, Resolver]:
    error_log = out_dir / LINK_ERROR_LOG
    announce(progress, "standardise", models.COMPANY)
    companies, existing = combined_features(models.COMPANY, out_dir, base)
    company = Resolver(
        models.COMPANY,
        companies,
        config.company,
        config,
        staged.scratch,
        error_log,
        progress,
        existing,
    )
    del companies
    with staged.writer("links") as links:
        model, company.model_source = company.model(
            _saved_model(model_dirs, models.COMPANY),
            _model_path(out_dir / MODELS, models.COMPANY),
        )
        _save(model, staged)
        company_warnings: list[str] = []
        company.resolve(model, verdicts, previous_ids(previous, models.COMPANY), company_warnings)
        write_links(company, links)
        company.suspect_rows = company.suspects()
        company.release()

        announce(progress, "standardise", models.PERSON)
        persons, existing = combined_features(models.PERSON, out_dir, base)
        persons["context"] = company_context(persons, company.features, company.entity_ids)
        person = Resolver(
            models.PERSON,
            persons,
            config.person,
            config,
            staged.scratch,
            error_log,
            progress,
            existing,
        )
        del persons
        model, person.model_source = person.model(
            _saved_model(model_dirs, models.PERSON), _model_path(out_dir / MODELS, models.PERSON)
        )
        _save(model, staged)
        person_warnings: list[str] = []
        person.resolve(model, verdicts, previous_ids(previous, models.PERSON), person_warnings)
        write_links(person, links)
        person.suspect_rows = person.suspects()
        person.release()
    # A judgement names persons or companies: it is unknown only if neither knows it.
    warnings.extend(w for w in person_warnings if w in set(company_warnings))
    for resolver in (company, person):
        line = (
            None if resolver.training is None else resolver.training.summary(resolver.entity_type)
        )
        if line:
            warnings.append(line)
    return {"person": person, "company": company}


def _save(model: models.Model, staged: Staged) -> None:
    """The model that decides this run, and its term frequencies beside it (what the
    real-time scorer of `POST /screen` reads instead of a DuckDB model)."""
    model.save(staged.path(MODELS) / f"{model.entity_type}.json")
    staged.write(rundir.term_frequency_table(model.entity_type), model.term_frequencies())


def _write(run_dir: Path, staged: Staged, resolved: dict[str, Resolver]) -> None:
    """The tables besides links.parquet (written as each entity type finished), then all
    moved into place, the entities last: a run with entities has all of its outputs."""
    entities = pd.concat([r.entities() for r in resolved.values()], ignore_index=True)
    suspects = pd.concat([r.suspect_rows for r in resolved.values()], ignore_index=True)
    changes = pd.concat(
        [r.changes.assign(entity_type=r.entity_type) for r in resolved.values()],
        ignore_index=True,
    )
    staged.write("entities", rundir.entities_table(entities, run_dir))
    staged.write("suspects", suspects)
    staged.write("entity_changes", changes)
    staged.write("company_name_keys", company_name_keys(run_dir, entities))
    staged.publish(last="entities")


def train_models(
    run_dir: Path,
    models_dir: Path | None = None,
    *,
    config: LinkageConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, str]:
    """Train both models on a run's mentions and save them for later runs to reuse.

    The person model's company-context comparison needs company entities, so companies are
    trained and resolved first (without reviewer judgements: training does not need them).
    """
    config = config or load_linkage_config()
    models_dir = default_models_dir() if models_dir is None else models_dir
    error_log = run_dir / LINK_ERROR_LOG
    with Staged(models_dir, "train") as staged:
        companies = company_features(run_dir)
        company = Resolver(
            models.COMPANY, companies, config.company, config, staged.scratch, error_log, progress
        )
        model, _ = company.model(None, _model_path(models_dir, models.COMPANY))
        model.save(staged.path("company.json"))
        company.resolve(model, read_judgements(staged.path("no-judgements.jsonl")), None, [])
        persons = person_features(run_dir)
        persons["context"] = company_context(persons, companies, company.entity_ids)
        person = Resolver(
            models.PERSON, persons, config.person, config, staged.scratch, error_log, progress
        )
        model, _ = person.model(None, _model_path(models_dir, models.PERSON))
        model.save(staged.path("person.json"))
        model.close()
        saved = {}
        for entity_type in (models.COMPANY, models.PERSON):
            target = models_dir / f"{entity_type}.json"
            staged.path(f"{entity_type}.json").replace(target)
            saved[entity_type] = str(target)
        return saved
