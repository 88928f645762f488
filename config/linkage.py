"""The linkage.yaml schema: thresholds and training settings, with their meaning.

Thresholds are policy (how sure must we be before two mentions become one person), so they
live in config, not in code. The default file sits next to this module; `VEIL_LINKAGE`
or an explicit path points at another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from config.settings import CONFIG_DIR, environment
from config.validated import Strict, load_validated

DEFAULT_LINKAGE = CONFIG_DIR / "linkage.yaml"


class EntityLinkage(Strict):
    match_threshold: float = Field(0.99, gt=0.0, lt=1.0)
    #: A pair whose names have one rare sound (persons: or whose records meet in a
    #: company, or share a phone or address) joins at this lower probability (None: every
    #: pair at match_threshold). See linkage.yaml.
    rare_name_threshold: float | None = Field(None, gt=0.0, lt=1.0)
    review_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    suspect_name_similarity: float = Field(50, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> EntityLinkage:
        if self.rare_name_threshold is not None and self.rare_name_threshold > self.match_threshold:
            raise ValueError(
                f"rare_name_threshold ({self.rare_name_threshold}) must be <= "
                f"match_threshold ({self.match_threshold})"
            )
        if self.review_threshold > self.lowest_threshold:
            raise ValueError(
                f"review_threshold ({self.review_threshold}) must be <= "
                f"match_threshold and rare_name_threshold ({self.lowest_threshold})"
            )
        return self

    @property
    def lowest_threshold(self) -> float:
        """The least probability at which any pair joins."""
        return self.rare_name_threshold or self.match_threshold


class Training(Strict):
    u_max_pairs: float = Field(1e7, ge=1e3)
    seed: int = 42
    min_field_coverage: float = Field(0.01, ge=0.0, le=1.0)
    em_max_iterations: int = Field(100, ge=1, le=10_000)
    em_tolerance: float = Field(1e-4, gt=0.0, lt=1.0)
    unobserved_m: float = Field(1e-6, gt=0.0, lt=1.0)
    unobserved_max_penalty: float = Field(20.0, ge=0.0, le=60.0)


class ScreeningPolicy(Strict):
    """Who `POST /screen` shows as a candidate for an applicant, and when a candidate is
    presented as the applicant rather than as a lead (see linkage.yaml)."""

    candidate_threshold: float = Field(0.3, gt=0.0, lt=1.0)
    match_threshold: float = Field(0.8, gt=0.0, lt=1.0)
    max_candidates: int = Field(5, ge=1, le=50)

    @model_validator(mode="after")
    def _ordered(self) -> ScreeningPolicy:
        if self.candidate_threshold > self.match_threshold:
            raise ValueError(
                f"candidate_threshold ({self.candidate_threshold}) must be <= "
                f"match_threshold ({self.match_threshold})"
            )
        return self


class LinkageConfig(Strict):
    version: Literal[1] = 1
    person: EntityLinkage = EntityLinkage()
    company: EntityLinkage = EntityLinkage()
    training: Training = Training()
    screening: ScreeningPolicy = ScreeningPolicy()


def load_linkage_config(path: Path | None = None) -> LinkageConfig:
    """Read and validate linkage.yaml (default: $VEIL_LINKAGE, else the packaged file)."""
    if path is None:
        path = environment().linkage or DEFAULT_LINKAGE
    return load_validated(path, LinkageConfig, "linkage")
