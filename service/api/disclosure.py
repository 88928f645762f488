"""What a caller may see of an answer: one function, `disclosed`, applied to every typed
answer before the API returns it, and `printed`, what the CLI prints.

The graph marks each field that holds an identifier (graph.answers.Sensitive); which
role sees which kind is decided here:

- ID masks: every role sees them, with the birth month and day hidden
  (loaders.identifiers.display_mask: one person's masks come from lists that hide
  different characters, and side by side they would be the whole number).
- record IDs (agency record keys, which may embed a registration number or, in someone
  else's extract, a resident ID): a role that may read identifiers (Action.IDENTIFIERS)
  sees them with any resident ID inside masked; any other role sees none.

USCCs (public company codes) and the public numbers of decisions and cases are shown to
every role that may read the answer at all. Whatever the field, no text leaves with a
resident ID in it: every string of an answer passes through
loaders.identifiers.`masked_resident_ids` (an agency's free text, a case number built
from a record key, a hostile name, a mask inside a text). The graph already holds masks
and texts so (graph/facts.py); applying the rule again here keeps an answer from a graph
loaded before that, or a model whose fields are not marked, from showing more.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

from graph.answers import Sensitive
from loaders.identifiers import display_mask, masked_resident_ids
from service.keys import Action, Principal

A = TypeVar("A", bound=BaseModel)


def disclosed(answer: A, principal: Principal) -> A:
    """`answer` as `principal` may see it (see the module docstring)."""
    return _applied(answer, _rules(principal.may(Action.IDENTIFIERS)))


def printed(answer: A) -> A:
    """`answer` as the CLI prints it: the operator at the terminal sees what a role that
    may read identifiers sees."""
    return _applied(answer, _rules(identifiers=True))


def _rules(identifiers: bool) -> dict[Sensitive, Callable[[Any], Any]]:
    return {
        Sensitive.ID_MASK: lambda masks: list(dict.fromkeys(map(display_mask, masks))),
        Sensitive.RECORD_ID: _record_ids if identifiers else _withheld,
    }


def _applied(model: A, rules: dict[Sensitive, Callable[[Any], Any]]) -> A:
    """`model` with the rules applied: a copy if anything changed, else `model` itself
    (most of an answer holds nothing to mask, and copying every node of every path cost a
    control answer 0.2 ms)."""
    updates = {}
    for name, kind in _fields(type(model)):
        value = getattr(model, name)
        changed = rules[kind](value) if kind is not None else _inside(value, rules)
        if changed is not value:
            updates[name] = changed
    return model.model_copy(update=updates) if updates else model


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, Sensitive | None], ...]:
    """Each field of `model` with the kind of identifier it holds, if marked."""
    return tuple(
        (name, next((m for m in field.metadata if isinstance(m, Sensitive)), None))
        for name, field in model.model_fields.items()
    )


def _inside(value: Any, rules: dict[Sensitive, Callable[[Any], Any]]) -> Any:
    """`value` with the rules applied inside it; `value` itself when nothing changed."""
    if isinstance(value, str):
        masked = masked_resident_ids(value)
        return value if masked == value else masked
    if isinstance(value, BaseModel):
        return _applied(value, rules)
    if isinstance(value, list):
        inside = [_inside(v, rules) for v in value]
        return value if all(a is b for a, b in zip(inside, value, strict=True)) else inside
    return value


def _record_ids(value: str | list[str] | None) -> str | list[str] | None:
    if isinstance(value, list):
        return [masked_resident_ids(v) for v in value]
    return None if value is None else masked_resident_ids(value)


def _withheld(value: str | list[str] | None) -> str | list[str] | None:
    return [] if isinstance(value, list) else None
