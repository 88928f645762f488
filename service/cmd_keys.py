"""`veil keys create|list|revoke` and `veil audit list|verify`: the HTTP API's keys and its log.

The CLI is the operator at the machine, so its own audit rows carry key id `cli` and role
`operator`: creating and revoking a key is recorded like any request.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from config.errors import InputError
from service import audit, keys
from service.console import console, err_console, print_json, run_guarded, styled

keys_app = typer.Typer(no_args_is_help=True, help="API keys: create, list, revoke.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log: list rows, verify the chain.")

CLI_KEY_ID = "cli"
CLI_ROLE = "operator"


@keys_app.command("create")
@run_guarded
def create(
    role: keys.Role = typer.Option(..., "--role", help="regulator, inspector or analyst"),
    name: str = typer.Option(..., "--name", help="who or what uses the key"),
    region: list[str] = typer.Option(
        [], "--region", help="inspector: a 6-digit division code (310000 = the province)"
    ),
    industry: list[str] = typer.Option(
        [], "--industry", help="inspector: a GB/T 4754 code prefix (F, F52, C1331)"
    ),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """Create a key; it is printed once and never stored."""
    key_id, key = keys.create(role, name, region, industry)
    audit.append(
        CLI_KEY_ID,
        CLI_ROLE,
        "keys.create",
        {
            "key_id": key_id,
            "role": role.value,
            "name": name,
            "regions": region,
            "industries": industry,
        },
        1,
        200,
    )
    if json_output:
        print_json({"key_id": key_id, "key": key, "role": role.value})
        return
    console.print(f"key id: {key_id}  role: {role.value}")
    console.print(f"key:    {key}")
    err_console.print(
        styled(("shown once:", "bold"), " veil keeps only its hash; send it as a header")
    )


@keys_app.command("list")
@run_guarded
def list_command(json_output: bool = typer.Option(False, "--json")) -> None:
    """Every key, live and revoked (never the key itself)."""
    records = keys.list_keys()
    if json_output:
        print_json([r.public() for r in records])
        return
    # At 80 columns the id, role and days stay whole; a name and a scope fold onto more lines.
    table = Table(title=f"API keys ({len(records)})")
    table.add_column("key id", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("role", no_wrap=True)
    table.add_column("scope", max_width=10)
    table.add_column("created", no_wrap=True)
    table.add_column("revoked", no_wrap=True)
    for r in records:
        table.add_row(
            r.key_id,
            r.name,
            r.role.value,
            _scope(r),
            _day(r.created),
            _day(r.revoked),
        )
    console.print(table)


def _scope(record: keys.KeyRecord) -> str:
    """What a key may see: "all" for an unscoped role; an inspector's regions, then its
    industries ("all industries" when it names none: its regions' every company)."""
    if not keys.ROLES[record.role].scoped:
        return "all"
    return " ".join(record.regions) + "\n" + (" ".join(record.industries) or "all\nindustries")


def _day(when: datetime | None) -> str:
    """The UTC day a key was created or revoked (the JSON keeps the whole time)."""
    return "" if when is None else when.astimezone(UTC).date().isoformat()


@keys_app.command("revoke")
@run_guarded
def revoke(key_id: str = typer.Argument(..., help="the key id (veil keys list)")) -> None:
    """Revoke a key: it fails from the next request on."""
    record = keys.revoke(key_id)
    audit.append(CLI_KEY_ID, CLI_ROLE, "keys.revoke", {"key_id": key_id}, 1, 200)
    console.print(
        f"revoked {record.key_id} ({record.name}, {record.role.value}) at {record.revoked}"
    )


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InputError("--since", f"expected a date or time (2025-01-31), got {text!r}") from None


@audit_app.command("list")
@run_guarded
def audit_list(
    since: str | None = typer.Option(None, "--since", help="rows at or after this day (UTC)"),
    key: str | None = typer.Option(None, "--key", help="only this key id"),
    json_output: bool = typer.Option(False, "--json"),
) -> None:
    """The audit rows, oldest first."""
    rows = audit.list_rows(_since(since), key)
    if json_output:
        print_json(rows)
        return
    table = Table(title=f"audit rows ({len(rows)})")
    for column in ("seq", "time", "key id", "role", "action", "params", "count", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.get("seq")),
            str(r.get("time", ""))[:19],
            str(r.get("key_id")),
            str(r.get("role")),
            str(r.get("action")),
            json.dumps(r.get("params"), ensure_ascii=False),
            str(r.get("result_count")),
            str(r.get("status")),
        )
    console.print(table)


@audit_app.command("verify")
@run_guarded
def audit_verify(json_output: bool = typer.Option(False, "--json")) -> None:
    """Check the hash chain; exit 1 naming the first broken row."""
    verdict = audit.verify()
    if json_output:
        print_json({"ok": verdict.ok, "message": verdict.message(), **_verdict_fields(verdict)})
    elif verdict.ok:
        console.print(verdict.message())
    else:
        err_console.print(styled(("broken:", "bold red"), " ", verdict.message()))
    if not verdict.ok:
        raise typer.Exit(1)


def _verdict_fields(verdict: audit.Verdict) -> dict[str, object]:
    return {
        "rows": verdict.rows,
        "head_hash": verdict.head_hash,
        "broken_line": verdict.broken_line,
        "broken_seq": verdict.broken_seq,
        "problem": verdict.problem,
    }
