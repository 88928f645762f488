"""API keys: who may call veil's HTTP API, in which role, over which regions and industries.

A key is shown once, at creation, as `veil.<key_id>.<random>`; the store
(`$VEIL_HOME/keys.json`, 0600) keeps only HMAC-SHA256(pepper, salt + key). Why HMAC and not
scrypt/pbkdf2: the keys are 256-bit random strings, not passwords, so stretching buys no
resistance to guessing (there is nothing to guess), while it would cost every request tens
of milliseconds and let an unauthenticated caller burn CPU by sending bad keys. The pepper
lives in its own file (`$VEIL_HOME/key_pepper`), so a copy of keys.json alone cannot even
check a candidate key offline. The key id inside the key finds the record in O(1); the
hashes are compared in constant time.

The role rules are data (`ROLES`): what each role may do, and whether it is held to the
regions and industries of its key. The HTTP app maps each endpoint to one `Action`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from config.errors import ConfigError, VeilError
from config.settings import veil_home
from loaders.industry import normalise_industry
from service.files import exclusive, write_atomic

STORE_NAME = "keys.json"
STORE_VERSION = 1


class KeyProblem(VeilError):
    """A key cannot be created or revoked as asked (unknown id, a role without its scope)."""


class Role(StrEnum):
    REGULATOR = "regulator"
    INSPECTOR = "inspector"
    ANALYST = "analyst"


class Action(StrEnum):
    """What an endpoint does, as the role rules name it."""

    COMPANIES = "companies"  # company records: names, USCCs, status
    SEARCH = "search"  # find companies by name or code (a scoped key: in its scope only)
    CONTROL = "control"  # controllers, owners, control paths
    AGGREGATES = "aggregates"  # counts and statistics, no single person
    PERSONS = "persons"  # person records and footprints
    IDENTIFIERS = "identifiers"  # identifiers beyond masks (ID tokens, registration numbers)
    ALERTS = "alerts"  # alerts and their evidence
    REVIEW = "review"  # acknowledge / confirm / dismiss an alert
    SCREENING = "screening"  # risk screening of related companies


@dataclass(frozen=True, slots=True)
class RoleRule:
    """What a role may do; `scoped`: only companies in its key's regions and industries."""

    actions: frozenset[Action]
    scoped: bool


ROLES: dict[Role, RoleRule] = {
    Role.REGULATOR: RoleRule(frozenset(Action), scoped=False),
    Role.INSPECTOR: RoleRule(
        frozenset(
            {
                Action.ALERTS,
                Action.REVIEW,
                Action.CONTROL,
                Action.SCREENING,
                Action.IDENTIFIERS,
                Action.SEARCH,
            }
        ),
        scoped=True,
    ),
    Role.ANALYST: RoleRule(
        frozenset({Action.COMPANIES, Action.SEARCH, Action.CONTROL, Action.AGGREGATES}),
        scoped=False,
    ),
}

_REGION = re.compile(r"[0-9]{6}")


def region_prefix(code: str) -> str:
    """The prefix a 6-digit division code stands for: 310000 -> 31 (the province),
    310100 -> 3101 (the city), 310115 -> 310115 (the county)."""
    prefix = code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a key stands for: its id, role and scope. Every check is a method here,
    so the HTTP app asks, never re-derives, what a role may see."""

    key_id: str
    name: str
    role: Role
    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()

    def may(self, action: Action) -> bool:
        """Whether the role may do `action` at all (scope aside)."""
        return action in ROLES[self.role].actions

    def in_scope(self, region_code: str | None, industry_code: str | None) -> bool:
        """Whether a company (its 6-digit region code, its GB/T 4754 code) is in scope.

        A scoped role sees a company only if its region falls under one of the key's
        regions and, when the key names industries, its code starts with one of them; an
        unknown region or industry is out of scope (fail closed).
        """
        if not ROLES[self.role].scoped:
            return True
        if region_code is None or not any(
            region_code.startswith(region_prefix(r)) for r in self.regions
        ):
            return False
        if not self.industries:
            return True
        return industry_code is not None and any(
            industry_code.upper().startswith(i) for i in self.industries
        )

    def scope_prefixes(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The scope as code prefixes (regions, industries), for a query that filters many
        companies at once the way `in_scope` judges one; None when the role sees every
        company."""
        if not ROLES[self.role].scoped:
            return None
        return tuple(region_prefix(r) for r in self.regions), self.industries

    @property
    def reviewer(self) -> str:
        """Who acted, as an alert's history records it: the key's name and id, never a
        name the request claims."""
        return f"{self.name} (key {self.key_id})"

    def allows(self, action: Action, region_code: str | None, industry_code: str | None) -> bool:
        """`may(action)` and `in_scope(...)`: the one check an endpoint about a company makes."""
        return self.may(action) and self.in_scope(region_code, industry_code)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyRecord(_Strict):
    """One key as stored: never the key itself."""

    key_id: str
    name: str
    role: Role
    regions: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    created: datetime
    revoked: datetime | None = None
    salt: str
    hash: str

    def public(self) -> dict[str, object]:
        """The record without salt and hash: what `veil keys list` shows."""
        return self.model_dump(mode="json", exclude={"salt", "hash"})

    def principal(self) -> Principal:
        return Principal(self.key_id, self.name, self.role, self.regions, self.industries)


class _Store(_Strict):
    version: int
    keys: list[KeyRecord]


def store_path() -> Path:
    return veil_home() / STORE_NAME


def _pepper() -> bytes:
    """The pepper, created once (under the store's lock, written atomically: two first
    processes never make two peppers, and no reader sees a half-written one)."""
    path = veil_home() / "key_pepper"
    if not path.exists():
        with exclusive(path.with_name(STORE_NAME + ".lock")):
            if not path.exists():
                write_atomic(path, secrets.token_hex(32) + "\n")
    pepper = path.read_bytes().strip()
    if len(pepper) < 32:
        raise ConfigError(str(path), ["the key pepper is empty or too short (32+ characters)"])
    return pepper


def _digest(pepper: bytes, salt: str, key: str) -> str:
    return hmac.new(pepper, bytes.fromhex(salt) + key.encode("utf-8"), hashlib.sha256).hexdigest()


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What changes whenever the file does (veil replaces it by rename: a new inode)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


#: The last store read, per path: (its stamp, its records). A request reads the store
#: afresh only when the file has changed, so a revocation still holds from the next one.
_READ: dict[Path, tuple[tuple[int, int, int, int], list[KeyRecord]]] = {}


def _read(path: Path) -> list[KeyRecord]:
    """The store's records; a store that is not what veil wrote is a ConfigError naming it."""
    stamp = _stamp(path)
    if stamp is None:
        return []
    cached = _READ.get(path)
    if cached is not None and cached[0] == stamp:
        return list(cached[1])
    records = _parse(path)
    _READ[path] = (stamp, records)
    return list(records)


def _parse(path: Path) -> list[KeyRecord]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), [f"not valid JSON: {err}"]) from None
    try:
        store = _Store.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        raise ConfigError(str(path), problems) from None
    if store.version != STORE_VERSION:
        raise ConfigError(str(path), [f"version: {store.version}, expected {STORE_VERSION}"])
    ids = [r.key_id for r in store.keys]
    if len(set(ids)) != len(ids):
        raise ConfigError(str(path), ["keys: a key_id appears twice"])
    return store.keys


def _write(path: Path, records: list[KeyRecord]) -> None:
    store = _Store(version=STORE_VERSION, keys=records)
    write_atomic(path, json.dumps(store.model_dump(mode="json"), indent=2) + "\n")


def _checked_scope(
    role: Role, regions: list[str], industries: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Regions as 6-digit codes and industries as normalised GB/T 4754 prefixes; a scoped
    role needs a region, an unscoped one takes none (a scope it ignores would mislead)."""
    if not ROLES[role].scoped:
        if regions or industries:
            raise KeyProblem(f"role {role} sees every region and industry: give no scope")
        return (), ()
    if not regions:
        raise KeyProblem(f"role {role} needs at least one --region (a 6-digit division code)")
    bad = [r for r in regions if not _REGION.fullmatch(r)]
    if bad:
        raise KeyProblem(f"regions must be 6-digit division codes (310000, 310100): {bad}")
    codes = []
    for raw in industries:
        code = normalise_industry(raw).value
        if code is None:
            raise KeyProblem(f"not a GB/T 4754 industry code or prefix (F, F52, C1331): {raw!r}")
        codes.append(code)
    return tuple(dict.fromkeys(regions)), tuple(dict.fromkeys(codes))


def create(
    role: Role, name: str, regions: list[str] | None = None, industries: list[str] | None = None
) -> tuple[str, str]:
    """A new key: (key_id, key). The key is returned here only; the store keeps its hash."""
    if not name.strip():
        raise KeyProblem("a key needs a name (who or what uses it)")
    scope = _checked_scope(role, list(regions or ()), list(industries or ()))
    key_id = secrets.token_hex(6)
    key = f"veil.{key_id}.{secrets.token_urlsafe(32)}"
    salt = secrets.token_hex(16)
    record = KeyRecord(
        key_id=key_id,
        name=name.strip(),
        role=role,
        regions=scope[0],
        industries=scope[1],
        created=datetime.now(UTC),
        salt=salt,
        hash=_digest(_pepper(), salt, key),
    )
    path = store_path()
    with exclusive(path.with_name(STORE_NAME + ".lock")):
        _write(path, [*_read(path), record])
    return key_id, key


def authenticate(key: str) -> Principal | None:
    """The principal of a live key, or None (unknown, malformed, revoked or wrong key).

    The store is read on every call, so a revocation holds from the next request.
    """
    parts = key.split(".", 2)
    key_id = parts[1] if len(parts) == 3 and parts[0] == "veil" else ""
    record = next((r for r in _read(store_path()) if r.key_id == key_id), None)
    pepper = _pepper()
    if record is None:
        _digest(pepper, "00" * 16, key)  # the same work as a known id: no timing tell
        return None
    ok = hmac.compare_digest(_digest(pepper, record.salt, key), record.hash)
    return record.principal() if ok and record.revoked is None else None


def revoke(key_id: str) -> KeyRecord:
    """Revoke a key for good (kept in the store, marked, so the audit log's ids still resolve)."""
    path = store_path()
    with exclusive(path.with_name(STORE_NAME + ".lock")):
        records = _read(path)
        found = next((r for r in records if r.key_id == key_id), None)
        if found is None:
            raise KeyProblem(f"no key {key_id!r} (veil keys list shows them)")
        if found.revoked is not None:
            return found
        revoked = found.model_copy(update={"revoked": datetime.now(UTC)})
        _write(path, [revoked if r.key_id == key_id else r for r in records])
    return revoked


def list_keys() -> list[KeyRecord]:
    """Every key, live and revoked, in order of creation."""
    return _read(store_path())
