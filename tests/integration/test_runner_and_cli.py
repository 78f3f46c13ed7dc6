"""`make run`'s entrypoint (seed, demo.env, restart) and the lomas-admin CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from functions.admin.cli import app as cli
from functions.container import serve
from lomas.config import Settings
from lomas.domain import PrivacyCost
from tests.conftest import LiveServer


def test_seed_writes_demo_env_and_a_restart_keeps_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOMAS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LOMAS_DEV_MODE", "true")
    monkeypatch.setenv("LOMAS_PORT", "8765")
    monkeypatch.delenv("LOMAS_MONGODB_URL", raising=False)
    serve.main(["--check"])
    env = serve.read_env_file(tmp_path / "demo.env")
    assert env["LOMAS_URL"] == "http://127.0.0.1:8765"
    assert env["LOMAS_TOKEN"].startswith("lomas_")
    assert env["LOMAS_ADMIN_TOKEN"] != env["LOMAS_TOKEN"]
    assert (tmp_path / "demo.env").stat().st_mode & 0o077 == 0

    ctx, close = serve.start(Settings())
    assert ctx.store.list_datasets() == ["income_synth", "penguins"]
    assert ctx.store.spend("dr_antartica", "penguins", PrivacyCost(1.0, 0.0)) is not None
    close()

    serve.main(["--check"])  # restart
    assert serve.read_env_file(tmp_path / "demo.env") == env  # same tokens still valid
    ctx, close = serve.start(Settings())
    grant = ctx.store.get_grant("dr_antartica", "penguins")
    assert grant is not None and grant.spent.epsilon == 1.0
    close()
    assert len(Path(tmp_path / "data" / "income_synth.csv").read_text().splitlines()) == 200_001


def run(server: LiveServer, *args: str, input: str | None = None):
    return CliRunner().invoke(
        cli, ["--url", server.url, "--token", server.world.admin_token, *args], input=input)


def test_cli_over_the_admin_api(live_server: LiveServer) -> None:
    added = run(live_server, "users", "add", "bob")
    assert added.exit_code == 0 and "lomas_" in added.output
    listed = run(live_server, "users", "list")
    assert "bob" in listed.output and "alice" in listed.output
    granted = run(live_server, "grants", "set", "bob", "income", "--epsilon", "2",
                  "--delta", "0.0001")
    assert granted.exit_code == 0 and '"remaining_epsilon": 2.0' in granted.output
    assert run(live_server, "datasets", "list").output.count("income") == 1
    grants_out = run(live_server, "grants", "list", "--user", "bob")
    assert grants_out.exit_code == 0 and "bob" in grants_out.output and "alice" not in \
        grants_out.output
    assert run(live_server, "archives", "--user", "bob").exit_code == 0
    assert run(live_server, "users", "set", "bob", "--no-may-query").exit_code == 0
    missing = run(live_server, "users", "show", "ghost")
    assert missing.exit_code == 1 and "NotFound" in missing.output


def test_cli_grants_add_tops_up_and_keeps_what_is_spent(live_server: LiveServer) -> None:
    live_server.world.store.spend("alice", "income", PrivacyCost(1.0, 0.0))
    before = live_server.world.store.get_grant("alice", "income")
    assert before is not None
    added = run(live_server, "--json", "grants", "add", "alice", "income", "--epsilon", "2.5",
                "--delta", "1e-5")
    assert added.exit_code == 0, added.output
    grant = json.loads(added.output)
    assert grant["initial_epsilon"] == pytest.approx(before.initial.epsilon + 2.5)
    assert grant["initial_delta"] == pytest.approx(before.initial.delta + 1e-5)
    assert grant["total_spent_epsilon"] == pytest.approx(1.0)
    assert grant["remaining_epsilon"] == pytest.approx(before.remaining.epsilon + 2.5)
    nothing = run(live_server, "grants", "add", "alice", "income")
    assert nothing.exit_code == 1 and "add_epsilon or add_delta" in nothing.output
    assert "Traceback" not in nothing.output
    missing = run(live_server, "grants", "add", "ghost", "income", "--epsilon", "1")
    assert missing.exit_code == 1 and "NotFound" in missing.output
    assert run(live_server, "--json", "jobs").output.strip() == "[]"
    assert run(live_server, "jobs").output.strip() == "none"  # not an empty table
    ghost = run(live_server, "grants", "list", "--user", "ghost").output.strip()
    assert ghost == "no grants of 'ghost' (`lomas-admin users list`: who exists)"


def test_cli_datasets_delete_asks_first_and_says_what_it_keeps(live_server: LiveServer) -> None:
    store = live_server.world.store
    store.spend("alice", "income", PrivacyCost(2.0, 0.0))
    declined = run(live_server, "datasets", "delete", "income", input="n\n")
    assert declined.exit_code == 1 and "grants, spent budgets and archives are kept" in \
        declined.output
    assert store.get_dataset("income") is not None

    confirmed = run(live_server, "datasets", "delete", "income", input="y\n")

    assert confirmed.exit_code == 0, confirmed.output
    assert "Dataset 'income' retired: its 1 grant, their spent budgets" in confirmed.output
    assert store.get_dataset("income") is None
    assert store.get_grant("alice", "income").spent == PrivacyCost(2.0, 0.0)  # type: ignore[union-attr]
    again = run(live_server, "datasets", "delete", "income", "--yes")
    assert again.exit_code == 1 and "is retired" in again.output
    assert "* retired: income (the grants are kept" in run(
        live_server, "grants", "list", "--user", "alice").output


def test_cli_users_and_grants_delete_ask_first_and_forget_nothing(
        live_server: LiveServer) -> None:
    store = live_server.world.store
    store.spend("alice", "income", PrivacyCost(2.0, 0.0))
    declined = run(live_server, "grants", "delete", "alice", "income", input="n\n")
    assert declined.exit_code == 1 and "what it spent is kept" in declined.output
    assert store.get_grant("alice", "income").remaining.epsilon > 0  # type: ignore[union-attr]

    revoked = run(live_server, "grants", "delete", "alice", "income", "--yes")

    assert revoked.exit_code == 0 and "Revoked 'alice' on 'income'" in revoked.output
    grant = store.get_grant("alice", "income")
    assert grant is not None and grant.spent == grant.initial == PrivacyCost(2.0, 0.0)
    declined = run(live_server, "users", "delete", "alice", input="n\n")
    assert declined.exit_code == 1 and store.get_user("alice") is not None
    assert run(live_server, "users", "delete", "alice", input="y\n").exit_code == 0
    assert store.get_user("alice") is None
    assert store.get_grant("alice", "income") == grant  # kept for a new alice


def test_cli_import_and_bad_token(live_server: LiveServer, tmp_path: Path) -> None:
    doc = tmp_path / "setup.yaml"
    doc.write_text("users:\n  - {user_name: dora}\n")
    result = run(live_server, "import", str(doc))
    assert result.exit_code == 0 and "dora" in result.output
    denied = CliRunner().invoke(cli, ["--url", live_server.url, "--token", "nope", "users",
                                      "list"])
    assert denied.exit_code == 1 and "Unauthenticated" in denied.output


def test_bootstrap_writes_the_first_admin(embedded_uri: str, monkeypatch) -> None:
    monkeypatch.setenv("LOMAS_MONGODB_URL", embedded_uri)
    monkeypatch.setenv("LOMAS_MONGODB_DB", "bootstrap_test")
    first = CliRunner().invoke(cli, ["bootstrap", "--name", "root"])
    assert first.exit_code == 0 and "lomas_" in first.output
    again = CliRunner().invoke(cli, ["bootstrap", "--name", "root"])
    assert again.exit_code == 1 and "Conflict" in again.output


@pytest.mark.parametrize(("text", "says"), [
    (None, "no metadata file"),
    ("columns: [unclosed\n", "is not valid YAML at line 2"),
])
def test_a_metadata_file_that_cannot_be_read_is_one_line(
        live_server: LiveServer, tmp_path: Path, text: str | None, says: str) -> None:
    path = tmp_path / "meta.yaml"
    if text is not None:
        path.write_text(text)
    done = run(live_server, "datasets", "add", "census", "--source", "census.csv",
               "--metadata", str(path))
    assert done.exit_code == 1
    [line] = done.output.strip().splitlines()
    assert line.startswith("error ") and says in line
    assert live_server.world.store.get_dataset("census") is None


def test_yes_and_no_stay_strings_in_a_metadata_file(live_server: LiveServer,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    path.write_text("max_ids: 1\nrow_privacy: true\ncolumns:\n  answer:\n    type: string\n"
                    "    categories: [yes, no]\n")
    done = run(live_server, "datasets", "add", "survey", "--source", "survey.csv",
               "--metadata", str(path))
    assert done.exit_code == 0, done.output
    dataset = live_server.world.store.get_dataset("survey")
    assert dataset is not None
    column = dataset.metadata.columns["answer"]
    assert column.categories == ["yes", "no"]
    assert dataset.metadata.row_privacy is True  # 1.2's true is still a boolean


def test_every_command_of_lomas_admin_says_what_it_does() -> None:
    import typer.main

    def commands(group: typer.Typer, path: str) -> list[tuple[str, str | None]]:
        found = [(f"{path} {c.name or c.callback.__name__}", c.help or (
            c.callback.__doc__ if c.callback else None)) for c in group.registered_commands]
        for sub in group.registered_groups:
            assert sub.typer_instance is not None
            found += commands(sub.typer_instance, f"{path} {sub.name}")
        return found

    everything = commands(cli, "lomas-admin")
    assert len(everything) > 15
    assert [name for name, text in everything if not (text or "").strip()] == []


def test_tables_fit_80_columns_round_floats_and_json_gives_every_field(
        live_server: LiveServer) -> None:
    import json

    from functions.container.serve import create_wsgi
    from lomas_client import Client
    from tests.support.wsgi_transport import session_for

    world = live_server.world
    researcher = Client(live_server.url, world.token, "income",
                        session=session_for(create_wsgi(world.ctx)))
    sql = "SELECT COUNT(*) AS n FROM income"
    researcher.smartnoise_sql.query(sql, epsilon=0.123456789, delta=1e-5)
    wide = CliRunner(env={"COLUMNS": "80"})
    for command in (["grants", "list"], ["archives"], ["users", "list"]):
        shown = wide.invoke(cli, ["--url", live_server.url, "--token", world.admin_token,
                                  *command])
        assert shown.exit_code == 0, shown.output
        assert max(len(line) for line in shown.output.splitlines()) <= 80, shown.output
    grants = run(live_server, "grants", "list").output
    assert "0.1235" in grants and "0.123456789" not in grants
    roomy = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["--url", live_server.url, "--token", world.admin_token, "archives"])
    assert sql in roomy.output  # at 80 columns, its cell wraps
    as_json = json.loads(run(live_server, "--json", "grants", "list").output)
    [alice] = [g for g in as_json if g["user_name"] == "alice"]
    assert alice["total_spent_epsilon"] == 0.123456789
    [record] = json.loads(run(live_server, "--json", "archives").output)
    assert record["request"]["query_str"] == sql and record["query"] == sql
