"""What a caller may see of an answer: one function, `disclosed`, applied to every typed
answer before the API returns it.

The graph marks each field that holds an identifier (graph.answers.Sensitive); the rule
for each kind is here, and nowhere else:

- ID masks: every role sees them, with the birth month and day hidden. One person's
  masks come from different lists that hide different characters (a court's
  `110101********123X`, a punishment's `******19900101****`), and side by side they are
  the whole number; the year stays, as the answers' `birth_year` does.
- record IDs (agency record keys, which may embed a registration number or, in someone
  else's extract, a resident ID): a role that may read identifiers (Action.IDENTIFIERS)
  sees them with any resident ID inside masked; any other role sees none.

USCCs (public company codes) and the public numbers of decisions and cases are shown to
every role that may read the answer at all. Whatever the field, no text leaves with a
resident ID in it: every string of an answer passes through `masked_resident_ids` (an
agency's free text, a case number built from a record key, a hostile name).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel

from graph.answers import Sensitive
from loaders.identifiers import mask_id, parse_uscc
from service.keys import Action, Principal

A = TypeVar("A", bound=BaseModel)

#: An 18-character resident ID (or a 15-digit old one) inside a longer text.
_RESIDENT_ID = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])")
#: Where each length of mask shows the birth month and day.
_MONTH_DAY = {18: slice(10, 14), 15: slice(8, 12)}


def disclosed(answer: A, principal: Principal) -> A:
    """`answer` as `principal` may see it (see the module docstring)."""
    identifiers = principal.may(Action.IDENTIFIERS)
    rules: dict[Sensitive, Callable[[Any], Any]] = {
        Sensitive.ID_MASK: lambda masks: list(dict.fromkeys(map(_without_month_day, masks))),
        Sensitive.RECORD_ID: _record_ids if identifiers else _withheld,
    }
    return _applied(answer, rules)


def _applied(model: A, rules: dict[Sensitive, Callable[[Any], Any]]) -> A:
    updates = {}
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        kind = next((m for m in field.metadata if isinstance(m, Sensitive)), None)
        updates[name] = rules[kind](value) if kind is not None else _inside(value, rules)
    return model.model_copy(update=updates)


def _inside(value: Any, rules: dict[Sensitive, Callable[[Any], Any]]) -> Any:
    if isinstance(value, str):
        return masked_resident_ids(value)
    if isinstance(value, BaseModel):
        return _applied(value, rules)
    if isinstance(value, list):
        return [_inside(v, rules) for v in value]
    return value


def _without_month_day(mask: str) -> str:
    hidden = _MONTH_DAY.get(len(mask))
    if hidden is None:
        return mask
    return mask[: hidden.start] + "*" * (hidden.stop - hidden.start) + mask[hidden.stop :]


def _record_ids(value: str | list[str] | None) -> str | list[str] | None:
    if isinstance(value, list):
        return [masked_resident_ids(v) for v in value]
    return None if value is None else masked_resident_ids(value)


def _withheld(value: str | list[str] | None) -> str | list[str] | None:
    return [] if isinstance(value, list) else None


def masked_resident_ids(text: str) -> str:
    """`text` with every resident ID in it masked to its first 6 and last 4 characters: a
    number shaped like one whose birth date is a real day from 1880 on, check character
    right or not (a wrong one does not make it less personal); a valid USCC stays."""
    return _RESIDENT_ID.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    number = match.group(0)
    if not _born(number) or parse_uscc(number).status == "valid":
        return number
    return mask_id(number) or ""


def _born(number: str) -> bool:
    digits = number[6:14] if len(number) == 18 else "19" + number[6:12]
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return day.year >= 1880
