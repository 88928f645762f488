"""veil's exception tree: one root, and subclasses that say which file, entry and key to fix."""

from __future__ import annotations

from typing import Any


class VeilError(Exception):
    """Root of every error veil raises on purpose; the CLI prints these without a traceback."""


class ConfigError(VeilError):
    """A config file is malformed: names the file, each offending key and what was expected."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid config {path}:\n{lines}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.path, self.problems))


class InputError(VeilError):
    """An input file cannot be read at all (missing, empty, wrong encoding, missing column)."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.path, self.message))


class StageFailure(VeilError):
    """A stage of a batch job failed inside a library (Splink, DuckDB): names the stage, the
    entity type and what to do; the traceback is kept in a log file for whoever debugs it."""

    def __init__(self, stage: str, entity_type: str, cause: str, hint: str, log: str):
        self.stage = stage
        self.entity_type = entity_type
        self.cause = cause
        self.hint = hint
        self.log = log
        super().__init__(
            f"{entity_type}: {stage} failed: {cause}\n  what to do: {hint}\n  details: {log}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.stage, self.entity_type, self.cause, self.hint, self.log))


class EnvironmentProblem(VeilError):
    """Something outside veil is missing or busy (Java, Maven, a port): says what to do."""


class NotFound(VeilError):
    """A company or person reference matches nothing in the graph."""


class Ambiguous(VeilError):
    """A reference matches several entities: the candidates are listed so the user picks one."""

    def __init__(self, reference: str, candidates: list[dict[str, Any]]):
        self.reference = reference
        self.candidates = candidates
        lines = "\n".join(
            "  - " + "  ".join(str(v) for v in c.values() if v not in (None, [], ""))
            for c in candidates
        )
        super().__init__(
            f"'{reference}' matches {len(candidates)} entities; use an entity ID:\n{lines}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.reference, self.candidates))
