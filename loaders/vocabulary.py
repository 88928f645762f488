"""Canonical vocabularies: map an agency's own words for roles, penalties and lists to ours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from config.errors import ConfigError
from config.settings import CONFIG_DIR
from loaders.fields import normalise_text

DEFAULT_VOCABULARY = CONFIG_DIR / "vocabulary.yaml"
KINDS = ("roles", "punishment_categories", "lists", "licence_statuses")
OTHER = "other"


def _key(raw: str) -> str:
    return normalise_text(raw).replace(" ", "")


@dataclass(frozen=True)
class Vocabulary:
    """Lookup tables per kind; a value may map to several canonical terms (执行董事兼总经理)."""

    maps: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    canonical: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: lookup runs per row, and constant terms always reach this set.
        canonical = {
            kind: frozenset(v for values in table.values() for v in values)
            for kind, table in self.maps.items()
        }
        object.__setattr__(self, "canonical", canonical)

    def canonical_values(self, kind: str) -> frozenset[str]:
        return self.canonical.get(kind, frozenset())

    def lookup(self, kind: str, raw: str) -> tuple[str, ...] | None:
        """Canonical terms for `raw`, or None if the vocabulary does not know it."""
        table = self.maps.get(kind, {})
        key = _key(raw)
        if key in table:
            return table[key]
        if key in self.canonical_values(kind):
            return (key,)
        return None

    def extended(self, overrides: Mapping[str, Mapping[str, object]], where: str) -> Vocabulary:
        """A copy with a source's own terms added (they win over the defaults)."""
        maps = {k: dict(v) for k, v in self.maps.items()}
        for kind, table in overrides.items():
            if kind not in KINDS:
                raise ConfigError(
                    where, [f"vocabulary.{kind}: unknown vocabulary; expected one of {list(KINDS)}"]
                )
            maps.setdefault(kind, {}).update(_normalise_table(table, f"{where} vocabulary.{kind}"))
        return Vocabulary(maps)


def _normalise_table(table: object, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        raise ConfigError(where, ["expected a mapping of raw term -> canonical term(s)"])
    out: dict[str, tuple[str, ...]] = {}
    for raw, value in table.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) and v for v in values):
            raise ConfigError(where, [f"{raw}: expected a canonical term or a list of them"])
        out[_key(str(raw))] = tuple(values)
    return out


def load_vocabulary(path: Path = DEFAULT_VOCABULARY) -> Vocabulary:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["expected a mapping of vocabulary kind -> terms"])
    unknown = sorted(set(data) - set(KINDS))
    if unknown:
        raise ConfigError(
            str(path), [f"{k}: unknown vocabulary; expected one of {list(KINDS)}" for k in unknown]
        )
    return Vocabulary(
        {kind: _normalise_table(table, f"{path} {kind}") for kind, table in data.items()}
    )
