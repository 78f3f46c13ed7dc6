"""lomas-admin: every admin operation over the admin HTTP API, plus bootstrap."""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from lomas_client.errors import LomasClientError
from lomas_client.http import Transport, route_body
from lomas_contract import routes as r
from lomas_contract.models import query_text
from lomas_contract.routes import Route
from lomas_contract.sources import ACCESS
from lomas_contract.sources.local import LocalAccess

if TYPE_CHECKING:
    from lomas.ports import StateStore

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
users = typer.Typer(help="Users and their tokens.", no_args_is_help=True)
datasets = typer.Typer(help="Datasets and their metadata.", no_args_is_help=True)
grants = typer.Typer(help="Budgets granted to a user on a dataset.", no_args_is_help=True)
app.add_typer(users, name="users")
app.add_typer(datasets, name="datasets")
app.add_typer(grants, name="grants")
app.add_typer(store_cli := typer.Typer(
    help="The whole store, read or written directly (not over the API) with the settings "
         "the server reads (LOMAS_STORE, LOMAS_MONGODB_URL, LOMAS_STATE_DIR): stop the "
         "servers first.", no_args_is_help=True), name="store")
out = Console()
err = Console(stderr=True)

Url = Annotated[str, typer.Option("--url", envvar="LOMAS_ADMIN_URL", help="Admin API URL.")]
Token = Annotated[str, typer.Option("--token", envvar="LOMAS_ADMIN_TOKEN", help="Admin token.",
                                    show_default=False)]
Issuer = Annotated[str, typer.Option(
    "--oidc-issuer", envvar="LOMAS_ADMIN_OIDC_ISSUER", show_default=False,
    help="Sign in with this OIDC issuer instead of a token (needs the oidc extra of "
         "lomas-client).")]
ClientId = Annotated[str, typer.Option(
    "--oidc-client-id", envvar="LOMAS_ADMIN_OIDC_CLIENT_ID", help="The OIDC client id.")]
ClientSecret = Annotated[str, typer.Option(
    "--oidc-client-secret", envvar="LOMAS_ADMIN_OIDC_CLIENT_SECRET", show_default=False,
    help="A client secret (client credentials, for scripts); without it, the device flow "
         "prints a URL and a code to sign in with.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (every field), not tables.")]
State: dict[str, Transport] = {}
Output = {"json": False}


@app.callback()
def main_options(url: Url = "http://127.0.0.1:8000", token: Token = "", issuer: Issuer = "",
                 client_id: ClientId = "lomas-admin", client_secret: ClientSecret = "",
                 json_out: Json = False) -> None:
    Output["json"] = json_out
    if not issuer:
        State["http"] = Transport(url, token)
        return
    from lomas_client.oidc import OidcLogin

    login = (OidcLogin.client_credentials(issuer, client_id, client_secret) if client_secret
             else OidcLogin.device(issuer, client_id))
    State["http"] = Transport(url, None, auth=login)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, then the exit status `code`."""
    err.print(f"[red]error[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def call(route: Route, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    """One admin route; path parameters and request options by name."""
    try:
        return State["http"].call(route, body, **kwargs)
    except LomasClientError as exc:
        fail(f"{type(exc).__name__}: {exc.message}")
    except OSError as exc:
        fail(f"cannot reach the admin API: {exc}", 2)


def cell(value: Any) -> str:
    """A value as a table shows it: floats to 4 significant digits, times to the second."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str) and len(value) > 19 and value[10:11] == "T":
        return value[:19].replace("T", " ")  # an ISO time
    return "" if value is None else str(value)


def table(rows: list[dict[str, Any]], columns: dict[str, str], none: str = "none") -> None:
    """`columns`: field -> header, short enough for 80 columns; with --json, every field;
    `none`: the line said instead of an empty table."""
    if Output["json"]:
        show(rows)
        return
    if not rows:
        out.print(none, highlight=False, soft_wrap=True)
        return
    grid = Table(*columns.values(), box=box.SIMPLE_HEAD, pad_edge=False)
    for row in rows:
        grid.add_row(*(cell(row.get(c)) for c in columns))
    out.print(grid)


def show(body: Any) -> None:
    out.print_json(json.dumps(body))


# ------------------------------------------------------------------ users
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@users.command("add")
def users_add(name: str, admin: bool = False, may_query: bool = True) -> None:
    """Create a user and print their token (shown once)."""
    show(call(r.CREATE_USER, route_body(r.CREATE_USER, user_name=name, is_admin=admin,
                                      may_query=may_query)))


@users.command("list")
def users_list() -> None:
    """Every user: whether an admin, whether they may query."""
    table(call(r.LIST_USERS)["users"],
          {"user_name": "user", "is_admin": "admin", "may_query": "may query"})


@users.command("show")
def users_show(name: str) -> None:
    """One user (never their token)."""
    show(call(r.GET_USER, user_name=name))


@users.command("delete")
def users_delete(name: str, yes: Yes = False) -> None:
    """Delete a user: their token stops working. Their grants, spent budgets and archives
    stay: a new user of that name resumes them."""
    if not yes:
        typer.confirm(f"Delete user {name!r}? Their token stops working; their grants, "
                      "spent budgets and archives are kept.", abort=True)
    call(r.DELETE_USER, user_name=name)
    out.print(f"deleted user {name}")


@users.command("set")
def users_set(name: str, may_query: Annotated[bool, typer.Option(...)]) -> None:
    """Allow (--may-query) or stop (--no-may-query) a user's queries."""
    show(call(r.PATCH_USER, route_body(r.PATCH_USER, may_query=may_query), user_name=name))


@users.command("rotate-token")
def users_rotate(name: str) -> None:
    """Issue a new token; the old one stops working."""
    show(call(r.ROTATE_TOKEN, user_name=name))


# --------------------------------------------------------------- datasets
def access(source: str, fmt: str | None, endpoint_url: str | None, region: str | None,
           credentials_name: str | None, headers_name: str | None) -> dict[str, Any]:
    """A dataset_access object from --source, in the form of its kind (every kind of the
    registry says its own; a path under the data root last)."""
    kinds = sorted(ACCESS.values(), key=lambda model: model is LocalAccess)
    options = {"format": fmt, "endpoint_url": endpoint_url, "region": region,
               "credentials_name": credentials_name, "headers_name": headers_name}
    return next(found for model in kinds
                if (found := model.from_source(source, **options)) is not None)


Opt = Annotated[str | None, typer.Option()]


def read_metadata(path: Path) -> Any:
    """A local metadata file's document; a file that cannot be read or parsed fails in
    one line."""
    from lomas import yaml12

    try:
        return yaml12.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"no metadata file {str(path)!r}: give the path of a YAML or JSON file")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the metadata file {str(path)!r}: {exc}")
    except yaml.YAMLError as exc:
        fail(f"the metadata file {str(path)!r} is not valid YAML{yaml12.where(exc)}: "
             f"{getattr(exc, 'problem', None) or exc}")


@datasets.command("add")
def datasets_add(
    name: str,
    source: Annotated[str, typer.Option(
        help="s3://bucket/key, http(s)://host/file, postgres:schema.table, spark:db.table, "
             "s3a://bucket/prefix (Spark), or a path under the server's data root.")],
    metadata: Annotated[Path | None, typer.Option(help="Local YAML/JSON file, sent inline.")]
    = None,
    metadata_source: Annotated[str | None, typer.Option(
        help="Metadata file on the server's side, in the same forms as --source.")] = None,
    format: Annotated[str | None, typer.Option(help="csv or parquet (default: suffix).")]
    = None,
    endpoint_url: Annotated[str | None, typer.Option(help="S3-compatible endpoint.")] = None,
    region: Opt = None,
    credentials_name: Annotated[str | None, typer.Option(
        help="Named credentials held by the server: S3 keys (default: its own role), or a "
             "PostgreSQL DSN (required).")] = None,
    headers_name: Annotated[str | None, typer.Option(
        help="Named HTTP headers held by the server.")] = None,
) -> None:
    """Register a dataset (a CSV or Parquet file: local, S3 or HTTP; a PostgreSQL table; a
    Spark table or Parquet files) with its metadata. The name of a retired dataset brings
    it back, its grants and spent budgets resumed."""
    where = (endpoint_url, region, credentials_name, headers_name)
    body = route_body(
        r.CREATE_DATASET, dataset_name=name, dataset_access=access(source, format, *where),
        metadata=read_metadata(metadata) if metadata is not None else None,
        metadata_access=access(metadata_source, None, *where) if metadata_source else None)
    made = call(r.CREATE_DATASET, body)
    if Output["json"]:
        show(made)
    else:
        kind = made["dataset_access"]
        located = " ".join(str(v) for k, v in kind.items() if k != "type" and v)
        out.print(f"registered {made['dataset_name']}: {kind['type']} {located}, "
                  f"{len(made['metadata']['columns'])} columns (`datasets show "
                  f"{made['dataset_name']}` or --json: everything)", highlight=False,
                  soft_wrap=True)


@datasets.command("draft-metadata")
def datasets_draft_metadata(
    file: Annotated[Path, typer.Argument(help="A local CSV or Parquet file (your own copy).")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the YAML here (default: stdout).")] = None,
    format: Annotated[str | None, typer.Option(help="csv or parquet (default: suffix).")]
    = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")]
    = False,
) -> None:
    """Draft a metadata file from a data file, here (not on the server): types, nullable,
    categories of string columns with few values. Bounds are left as TODO placeholders
    that the server refuses: bounds read from the data reveal someone's value, so set them
    from public knowledge. Confirm every TODO line, then `datasets add --metadata`."""
    from lomas.sources.files.draft import DraftError, draft

    if output is not None and output.exists() and not force:
        fail(f"{output} exists: give another name, or --force to overwrite it.")
    try:
        text = draft(file, format)
    except DraftError as exc:
        fail(str(exc))
    if output is None:
        typer.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {str(output)!r}: {exc.strerror or exc}")
    where = f" in {output}" if output else ""
    err.print(f"drafted the metadata of {text.count(chr(10) + '    type: ')} columns{where}: "
              "fill in or confirm every line marked TODO. Bounds read from the data leak it: "
              "set them from public knowledge.", highlight=False, soft_wrap=True)


@datasets.command("check")
def datasets_check(name: str) -> None:
    """Load the dataset once and compare it with its metadata (counts, never values)."""
    report = call(r.CHECK_DATASET, dataset_name=name)
    out.print(f"{report['dataset_name']}: {report['rows']} rows, "
              f"{len(report['columns'])} columns")
    if report.get("privacy"):
        out.print("privacy: " + ", ".join(f"{k}={v}" for k, v in report["privacy"].items()))
    for warning in report.get("warnings", []):
        out.print(f"[yellow]warning[/yellow] {warning}")
    if report["problems"]:
        table(report["problems"], {"column": "column", "problem": "problem", "rows": "rows"})
        raise typer.Exit(1)
    out.print("no problems")


@datasets.command("list")
def datasets_list() -> None:
    """The active datasets (retired ones show in `grants list` while they have grants)."""
    table([{"dataset_name": d} for d in call(r.LIST_DATASETS)["datasets"]],
          {"dataset_name": "dataset"})


@datasets.command("show")
def datasets_show(name: str) -> None:
    """One active dataset: its access and metadata."""
    show(call(r.GET_DATASET, dataset_name=name))


@datasets.command("delete")
def datasets_delete(name: Annotated[str, typer.Argument(help="The dataset to retire.")],
                    yes: Yes = False) -> None:
    """Retire a dataset: it can no longer be queried. Its grants, their spent budgets and
    its archives are kept, and registering NAME again resumes them (the name is the
    privacy unit)."""
    if not yes:
        typer.confirm(f"Retire dataset {name!r}? No one can query it any more; its grants, "
                      f"spent budgets and archives are kept, and registering {name!r} again "
                      "resumes them.", abort=True)
    out.print(call(r.DELETE_DATASET, dataset_name=name)["message"], highlight=False, soft_wrap=True)


# ----------------------------------------------------------------- grants
@grants.command("set")
def grants_set(user: str, dataset: str,
               epsilon: Annotated[float, typer.Option(help="Initial epsilon.")],
               delta: Annotated[float, typer.Option(help="Initial delta.")]) -> None:
    """Create or change a grant (never below what is already spent)."""
    show(call(r.PUT_GRANT, route_body(r.PUT_GRANT, initial_epsilon=epsilon, initial_delta=delta),
              user_name=user, dataset_name=dataset))


@grants.command("add")
def grants_add(user: str, dataset: str,
               epsilon: Annotated[float, typer.Option(help="Epsilon to add.")] = 0.0,
               delta: Annotated[float, typer.Option(help="Delta to add.")] = 0.0) -> None:
    """Top a grant up: add to its initial and remaining budget (what is spent stays)."""
    show(call(r.TOP_UP_GRANT, route_body(r.TOP_UP_GRANT, add_epsilon=epsilon, add_delta=delta),
              user_name=user, dataset_name=dataset))


@grants.command("list")
def grants_list(user: Annotated[str | None, typer.Option(help="Only this user's.")] = None
                ) -> None:
    """Grants with their initial, spent and remaining budgets; those on a retired dataset
    marked *."""
    rows = call(r.LIST_GRANTS, params={"user_name": user} if user else None)["grants"]
    retired = sorted({row["dataset_name"] for row in rows if row.get("dataset_retired")})
    for row in rows:
        row["dataset_name"] += "*" if row.get("dataset_retired") else ""
    table(rows, {"user_name": "user", "dataset_name": "dataset", "initial_epsilon": "ε",
                 "total_spent_epsilon": "ε spent", "remaining_epsilon": "ε left",
                 "initial_delta": "δ", "total_spent_delta": "δ spent",
                 "remaining_delta": "δ left"},
          f"no grants{f' of {user!r}' if user else ''} (`lomas-admin users list`: who exists)")
    if retired and not Output["json"]:
        out.print(f"* retired: {', '.join(retired)} (the grants are kept; registering the "
                  "name again resumes them)", highlight=False, soft_wrap=True)


@grants.command("show")
def grants_show(user: str, dataset: str) -> None:
    """One grant: its initial, spent and remaining epsilon and delta."""
    show(call(r.GET_GRANT, user_name=user, dataset_name=dataset))


@grants.command("delete")
def grants_delete(user: str, dataset: str, yes: Yes = False) -> None:
    """Revoke a grant: nothing more can be spent on it. What it spent is kept, and setting
    the grant again resumes from it (never from zero)."""
    if not yes:
        typer.confirm(f"Revoke {user!r} on {dataset!r}? Nothing more can be spent; what it "
                      "spent is kept.", abort=True)
    out.print(call(r.DELETE_GRANT, user_name=user, dataset_name=dataset)["message"],
              highlight=False, soft_wrap=True)


# ------------------------------------------------------ archives, import
@app.command("archives")
def archives(user: str | None = None, dataset: str | None = None) -> None:
    """Executed queries, optionally of one user and/or dataset."""
    params = {k: v for k, v in {"user_name": user, "dataset_name": dataset}.items() if v}
    rows = call(r.LIST_ARCHIVES, params=params)["archives"]
    for row in rows:
        row["query"] = query_text(row.get("request") or {})
    table(rows, {"timestamp": "time", "user_name": "user", "dataset_name": "dataset",
                 "engine": "engine", "query": "query", "epsilon": "ε", "delta": "δ",
                 "status": "outcome"})


@app.command("jobs")
def jobs() -> None:
    """Background queries in progress: whose, on what, their cost, whether started."""
    table(call(r.LIST_JOBS)["jobs"], {"uid": "uid", "user_name": "user",
                                     "dataset_name": "dataset", "engine": "engine",
                                     "epsilon": "ε", "delta": "δ", "started": "started"})


@app.command("import")
def import_file(file: Annotated[Path, typer.Argument(
        help="The YAML document: users, datasets, grants.")]) -> None:
    """Create the users, datasets and grants of one YAML document, all or nothing. What the
    store holds already, equal, is left unchanged (an existing user keeps their token), so
    importing the same document twice changes nothing; anything that differs is refused,
    named, with nothing written."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read the import document {str(file)!r}: {exc.strerror or exc}")
    report = call(r.IMPORT, data=data, headers={"Content-Type": "application/x-yaml"})
    if Output["json"]:
        show(report)
        return
    say = functools.partial(out.print, highlight=False, soft_wrap=True)
    for user in report["users"]:
        say(f"created user {user['user_name']}, token {user['token']} (shown once)")
    for name in report["datasets"]:
        say(f"registered dataset {name}")
    for g in report["grants"]:
        say(f"granted {g['user_name']} on {g['dataset_name']}: epsilon "
            f"{g['initial_epsilon']:g}, delta {g['initial_delta']:g}")
    same = report.get("unchanged") or {}
    for name in same.get("users", []):
        say(f"unchanged user {name} (exists: keeps their token, not rotated)")
    for name in same.get("datasets", []):
        say(f"unchanged dataset {name}")
    for g in same.get("grants", []):
        say(f"unchanged grant {g['user_name']} on {g['dataset_name']}")
    if not (report["users"] or report["datasets"] or report["grants"]):
        say("nothing written: the store holds the whole document already")


@app.command("bootstrap")
def bootstrap(name: str = "admin") -> None:
    """Create the first admin directly in the store and print the token.

    The store is the server's (LOMAS_STORE, LOMAS_MONGODB_URL; without them the SQLite
    file under LOMAS_STATE_DIR).
    """
    from functions.container.serve import start
    from lomas.config import Settings
    from lomas.errors import LomasError
    from lomas.services import admin
    from lomas_contract.models import CreateUserRequest

    ctx, close = start(Settings())
    try:
        show(admin.create_user(ctx, CreateUserRequest(user_name=name, is_admin=True))
             .model_dump())
    except LomasError as exc:
        fail(f"{exc.type}: {exc.message}")
    finally:
        close()


# ------------------------------------------------------------------ store
@contextmanager
def opened_store() -> Iterator[StateStore]:
    """The store the server's settings name, closed after use; a failure in one line."""
    from pydantic import ValidationError

    from functions.common.wiring import MissingStore, open_store
    from lomas.config import Settings
    from lomas.errors import LomasError

    try:
        store, close = open_store(Settings())
    except MissingStore as exc:
        fail(str(exc), 2)
    except ValidationError as exc:
        fail(f"the settings are not valid: {exc.errors()[0]['msg']}; fix the LOMAS_ "
             "variables.", 2)
    except LomasError as exc:
        fail(f"{exc.type}: {exc.message}", 2)
    try:
        yield store
    except LomasError as exc:
        fail(f"{exc.type}: {exc.message}")
    finally:
        close()


def plural(counts: Counter[str]) -> str:
    from lomas.services.transfer import KINDS

    return ", ".join(f"{counts[k]} {k}" + ("" if counts[k] == 1 else "s") for k in KINDS)


@store_cli.command("export")
def store_export(
    file: Annotated[Path, typer.Argument(help="The JSON Lines file to write (mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")]
    = False,
) -> None:
    """Write every user (with their token hash), dataset (retired ones too), grant (with
    what it spent) and finished archive to FILE. Pending queries and jobs are not
    exported: stop the servers first."""
    from lomas.services.transfer import export_store

    if file.exists() and not force:
        fail(f"{file} exists: give another name, or --force to overwrite it.")
    partial = file.with_name(file.name + ".partial")  # FILE appears whole, or not at all
    partial.unlink(missing_ok=True)
    with opened_store() as store:
        try:
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                           "w", encoding="utf-8") as fh:
                counts = export_store(store, fh)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(file)
    out.print(f"exported {plural(counts)} to {file}", highlight=False, soft_wrap=True)


@store_cli.command("import")
def store_import(
    file: Annotated[Path, typer.Argument(
        help="A file `lomas-admin store export` wrote.", exists=True, dir_okay=False)],
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only say what would be written and skipped.")] = False,
) -> None:
    """Write FILE's records into the store: those it lacks are written, those it holds
    equal are skipped; if any differs from the store's own, nothing is written (exit 1).
    Importing the same file again changes nothing."""
    from lomas.services.transfer import import_store

    with opened_store() as store, file.open(encoding="utf-8") as fh:
        report = import_store(store, fh, dry_run=dry_run)
    for conflict in report.conflicts:
        err.print(f"[red]conflict[/red] {conflict}", highlight=False, soft_wrap=True)
    if report.conflicts:
        err.print(f"nothing written: {len(report.conflicts)} record(s) differ from the "
                  "store's own; resolve them on the target store, then import again.",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    verb = "would write" if dry_run else "wrote"
    out.print(f"{verb} {plural(report.written)}; skipped {plural(report.skipped)} "
              "(already there, equal)", highlight=False, soft_wrap=True)


def main() -> None:
    app()
