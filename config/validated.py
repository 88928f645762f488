"""Reading a YAML file into a strict pydantic model, with errors that name file and key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from config.errors import ConfigError

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    """The base of every config schema: an unknown key is an error naming it (a typo never
    passes as a default), and a loaded config cannot be changed behind its file's back."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load_validated(path: Path, model: type[Model], what: str) -> Model:
    """`model` from the YAML at `path`; a ConfigError lists every bad key otherwise."""
    if not path.is_file():
        raise ConfigError(str(path), [f"file not found: expected a {what} YAML file"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [f"not valid YAML: {err}"]) from None
    try:
        return model.model_validate(data or {})
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        raise ConfigError(str(path), problems) from None
