"""`warden tokens create|list|revoke`: per-person bearer tokens of the HTTP API.

A token decides as `api:<person>` on the approval API and reads what the shared
`http.api_token` reads (`daemon.http.auth`); the store keeps only its sha256
(`daemon.store.api_tokens`), so `create` prints the secret once and nothing shows it again.
The first token made switches the API to needing a token, as `http.api_token` does.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOption,
    JsonOption,
    UsageProblem,
    console,
    err_console,
    load,
    print_json_lines,
    store_for,
)
from daemon.cli.safe_text import data_markup

if TYPE_CHECKING:
    from daemon.store.models import ApiToken

app = typer.Typer(
    help="Per-person tokens of the HTTP API: each decides as its person (`api:<person>`), "
    "can be revoked alone, and is stored only as a hash.",
    no_args_is_help=True,
)

ActorOption = Annotated[
    str | None,
    typer.Option(
        "--as", metavar="USER", help="Who is acting, for the audit trail (default: your login)."
    ),
]


@app.command("create")
def create_command(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A unique name for the token, like alice-laptop (letters, digits, . _ -).",
            show_default=False,
        ),
    ],
    person: Annotated[
        str,
        typer.Option(
            metavar="PERSON",
            help="Whose token it is: decisions are recorded as api:PERSON (ideally a key "
            "of the config's `people:`).",
            show_default=False,
        ),
    ],
    config: ConfigOption = None,
    actor: ActorOption = None,
) -> None:
    """Make a token for PERSON and print its secret, once: it is not stored and will not be
    shown again.

    The secret alone goes to standard output (`TOKEN=$(warden tokens create ...)`); the
    notes go to standard error. Send it as `Authorization: Bearer <token>`.
    """
    from daemon.store.api_tokens import TokenProblem, create_token

    loaded = load(config)
    store = store_for(loaded)
    try:
        with store.session() as session:
            _token, secret = create_token(
                session, name, person, created_by=actor or getpass.getuser()
            )
    except TokenProblem as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    typer.echo(secret)
    err_console.print(
        f"Token {data_markup(name)} for {data_markup(person)} made. This is the only time "
        "its secret is shown: it is not stored and will not be shown again. Send it as "
        "`Authorization: Bearer <token>`; revoke it with "
        f"`warden tokens revoke {data_markup(name)}`.",
        highlight=False,
        soft_wrap=True,
    )
    if loaded.people and person not in loaded.people:
        err_console.print(
            f"Note: {data_markup(person)} is not a key of the config's `people:`, so "
            "their Slack and CLI names are not known to be theirs (`two_person` would "
            "count them as another person).",
            highlight=False,
            soft_wrap=True,
        )


@app.command("list")
def list_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List tokens, revoked ones included, oldest first (never their secrets)."""
    from daemon.store.api_tokens import list_tokens

    store = store_for(load(config))
    try:
        with store.session(readonly=True) as session:
            rows = [_row(token) for token in list_tokens(session)]
    finally:
        store.close()
    if as_json:
        print_json_lines(rows)
        return
    if not rows:
        console.print("No tokens. Make one with `warden tokens create NAME --person PERSON`.")
        return
    table = Table(title=f"{len(rows)} token(s)")
    for header in ("name", "person", "status", "created", "by", "last used"):
        table.add_column(header, overflow="fold")
    for row in rows:
        status = "active" if row["revoked_at"] is None else f"revoked {_minute(row['revoked_at'])}"
        table.add_row(
            data_markup(row["name"]),
            data_markup(row["person"]),
            status,
            _minute(row["created_at"]),
            data_markup(row["created_by"]),
            _minute(row["last_used_at"]) or "never",
        )
    console.print(table)


@app.command("revoke")
def revoke_command(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="The token's name (from `warden tokens list`).", show_default=False
        ),
    ],
    config: ConfigOption = None,
    actor: ActorOption = None,
) -> None:
    """Revoke a token now: its next request gets 401, on every replica. The name stays
    taken, so the audit trail keeps meaning one token."""
    from daemon.store.api_tokens import TokenProblem, revoke_token

    store = store_for(load(config))
    try:
        with store.session() as session:
            token = revoke_token(session, name, actor=actor or getpass.getuser())
            person = token.person
    except TokenProblem as error:
        raise UsageProblem(str(error)) from None
    finally:
        store.close()
    console.print(f"Token {data_markup(name)} of {data_markup(person)} is revoked.")


def _row(token: ApiToken) -> dict[str, Any]:
    """A token as `list --json` prints it: everything but its hash."""
    return {
        "name": token.name,
        "person": token.person,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "revoked_by": token.revoked_by,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


def _minute(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""
