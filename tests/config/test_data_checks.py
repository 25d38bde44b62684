"""`warden validate-config` checks the config against its data: every column the config names
exists (with the closest name suggested), the time column can cut windows (a timestamp, a
date, or text that parses: ISO 8601 or the dataset's `time_format`), and a dataset that
cannot be reached is a problem with its reason, never a traceback. Each problem names the
config key at fault, as a person would look for it (`monitors.churn_drift.columns[2]`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from daemon.config import ConfigError, load_config
from daemon.scan.data_checks import DataReport, check_data, names_columns
from tests.cli.conftest import run_warden

START = datetime(2025, 3, 1, tzinfo=UTC)
HOURS = [START + timedelta(hours=h) for h in range(72)]
US_FORMAT = "%m/%d/%Y %H:%M:%S"


def _csv(folder: Path, time_text=lambda t: t.strftime(US_FORMAT)) -> None:
    lines = ["ts,amount,country,label,user_id"] + [
        f"{time_text(t)},{h * 1.5},{'ABC'[h % 3]},{h % 2},u{h % 7}" for h, t in enumerate(HOURS)
    ]
    (folder / "events.csv").write_text("\n".join(lines) + "\n")


def _check(folder: Path, config: str) -> DataReport:
    (folder / "warden.yaml").write_text(config)
    return check_data(load_config(folder / "warden.yaml"))


def _problems(report: DataReport) -> dict[str, str]:
    return {problem.path: problem.message for problem in report.problems}


DATASET = "datasets:\n  events: {{format: csv, path: events.csv, time_column: ts{extra}}}\n"
DRIFT = (
    "  - {{name: churn_drift, kind: drift, dataset: events, window: 1d,\n"
    "     reference: {{offset: 1d, window: 1d}}, columns: {columns}}}\n"
)
FORMAT = f', time_format: "{US_FORMAT}"'


def _config(extra: str = FORMAT, columns: str = "[amount, country]", more: str = "") -> str:
    return DATASET.format(extra=extra) + "monitors:\n" + DRIFT.format(columns=columns) + more


def test_a_config_that_fits_its_data_has_no_problem(tmp_path: Path):
    _csv(tmp_path)
    report = _check(tmp_path, _config(extra=FORMAT + ", entity_column: user_id"))
    assert report.problems == [] and report.warnings == []


def test_a_missing_monitor_column_names_its_key_and_the_closest_column(tmp_path: Path):
    _csv(tmp_path)
    report = _check(tmp_path, _config(columns="[amount, country, ammount]"))
    assert _problems(report) == {
        "monitors.churn_drift.columns[2]": "column 'ammount' is not in dataset 'events'; did "
        "you mean 'amount'? (columns: ts, amount, country, label, user_id)"
    }
    assert report.problems[0].location == "monitors[0].columns[2]"


def test_a_role_naming_a_missing_column_is_a_problem(tmp_path: Path):
    _csv(tmp_path)
    report = _check(tmp_path, _config(extra=FORMAT + ", roles: {label: labl, prediction: score}"))
    problems = _problems(report)
    assert set(problems) == {"datasets.events.roles.label", "datasets.events.roles.prediction"}
    assert "did you mean 'label'?" in problems["datasets.events.roles.label"]


def test_a_missing_time_or_entity_column_is_a_problem(tmp_path: Path):
    _csv(tmp_path)
    config = _config().replace("time_column: ts", "time_column: time, entity_column: user")
    problems = _problems(_check(tmp_path, config))
    assert set(problems) == {"datasets.events.time_column", "datasets.events.entity_column"}
    assert problems["datasets.events.time_column"].startswith(
        "column 'time' is not in dataset 'events'"
    )
    assert "did you mean 'user_id'?" in problems["datasets.events.entity_column"]


def test_text_times_without_a_format_are_a_problem_that_says_to_set_it(tmp_path: Path):
    _csv(tmp_path)
    problems = _problems(_check(tmp_path, _config(extra="")))
    assert list(problems) == ["datasets.events.time_column"]
    assert (
        "time column 'ts' holds text that is not ISO 8601 (e.g. '03/01/2025 00:00:00'): set "
        "`time_format` on the dataset"
    ) in problems["datasets.events.time_column"]


def test_iso_text_times_need_no_format(tmp_path: Path):
    _csv(tmp_path, time_text=lambda t: t.isoformat())
    assert _check(tmp_path, _config(extra="")).problems == []


def test_a_format_that_does_not_match_the_text_is_a_problem(tmp_path: Path):
    _csv(tmp_path, time_text=lambda t: t.strftime("%Y-%m-%d %H:%M:%S"))
    problems = _problems(_check(tmp_path, _config()))
    assert list(problems) == ["datasets.events.time_format"]
    assert (
        "does not match time_format '%m/%d/%Y %H:%M:%S' (e.g. '2025-03-01 00:00:00')"
        in (problems["datasets.events.time_format"])
    )


def _parquet(folder: Path, times: pa.Array) -> None:
    table = pa.table({"ts": times, "amount": [float(h) for h in range(72)]})
    pq.write_table(table, folder / "events.parquet")


def test_parquet_text_times_with_a_format_fit_and_timestamps_warn_it_is_unused(tmp_path: Path):
    parquet = "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts"
    monitor = "}\nmonitors:\n" + DRIFT.format(columns="[amount]")
    _parquet(tmp_path, pa.array([t.strftime(US_FORMAT) for t in HOURS]))
    assert _check(tmp_path, parquet + FORMAT + monitor).problems == []
    assert "datasets.events.time_column" in _problems(_check(tmp_path, parquet + monitor))
    _parquet(tmp_path, pa.array(HOURS, pa.timestamp("us", tz="UTC")))
    report = _check(tmp_path, parquet + FORMAT + monitor)
    assert report.problems == []
    assert report.warnings == [
        "datasets.events.time_format: time column 'ts' is not text (timestamp('UTC', 6)), so "
        "time_format is not used"
    ]


def test_epoch_numbers_are_a_problem_of_the_time_column(tmp_path: Path):
    _parquet(tmp_path, pa.array([int(t.timestamp()) for t in HOURS]))
    config = (
        "datasets:\n  events: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n" + DRIFT.format(columns="[amount, amont]")
    )
    problems = _problems(_check(tmp_path, config))
    assert "time column 'ts' is bigint" in problems["datasets.events.time_column"]
    # The columns were read, so the monitor's are still checked.
    assert "did you mean 'amount'?" in problems["monitors.churn_drift.columns[1]"]


def test_monitor_columns_are_checked_in_the_dataset_they_are_compared_with(tmp_path: Path):
    _csv(tmp_path)
    _parquet(tmp_path, pa.array(HOURS, pa.timestamp("us", tz="UTC")))
    config = (
        DATASET.format(extra=FORMAT)
        + "  train: {format: parquet, path: events.parquet, time_column: ts}\n"
        "monitors:\n"
        "  - {name: vs_train, kind: drift, dataset: events, window: 1d,\n"
        "     reference: {dataset: train}, columns: [amount, country],\n"
        "     column_methods: {country: chi_square, contry: psi}}\n"
    )
    problems = _problems(_check(tmp_path, config))
    assert set(problems) == {
        "monitors.vs_train.columns[1]",
        "monitors.vs_train.column_methods.contry",
    }
    assert "dataset 'train'" in problems["monitors.vs_train.columns[1]"]


def test_route_and_playbook_columns_are_checked(tmp_path: Path):
    _csv(tmp_path)
    route = (
        "routes:\n"
        "  - match: {dataset: events, column: [amount, amout]}\n"
        "    playbook: relabel_batch\n"
        "    params: {id_column: row_id, stratify_by: country, probability_columns: [p_a]}\n"
    )
    problems = _problems(_check(tmp_path, _config(more=route)))
    assert set(problems) == {
        "routes[0].match.column[1]",
        "routes[0].params.id_column",
        "routes[0].params.probability_columns[0]",
    }


def test_the_param_rule_finds_every_playbook_column_param():
    """Every playbook param that names columns is caught by the rule the route check uses,
    and no other (a new param like `weight_column` is then checked without a list to keep)."""
    from playbooks.registry import PLAYBOOKS

    params = {name for playbook in PLAYBOOKS.values() for name in playbook.Params.model_fields}
    assert {name for name in params if names_columns(name)} == {
        "id_column",
        "probability_columns",
        "stratify_by",
        "columns",
    }


def test_unreachable_sources_are_problems_with_their_reason(tmp_path: Path):
    config = (
        "datasets:\n"
        "  gone: {format: parquet, path: nowhere/, time_column: ts}\n"
        "  db: {format: postgres, url: 'postgresql://nobody@127.0.0.1:1/x', table: t,\n"
        "       time_column: ts}\n"
        "  local: {format: duckdb, url: missing.duckdb, table: events, time_column: ts}\n"
        "monitors:\n"
        "  - {name: fresh, kind: freshness, dataset: gone, max_lag: 1h}\n"
        "  - {name: q, kind: quality, dataset: db, window: 1d,\n"
        "     reference: {offset: 1d, window: 1d}, columns: [x]}\n"
    )
    problems = _problems(_check(tmp_path, config))
    assert set(problems) == {"datasets.gone.path", "datasets.db.url", "datasets.local.url"}
    assert "does not exist" in problems["datasets.gone.path"]
    assert "cannot connect to postgresql://nobody@127.0.0.1:1/x" in problems["datasets.db.url"]


def test_validate_config_prints_problems_with_lines_and_exit_code_2(tmp_path: Path):
    _csv(tmp_path)
    (tmp_path / "warden.yaml").write_text(
        _config(extra=FORMAT + ", roles: {label: labl}", columns="[amount, contry]")
    )
    ran = run_warden("validate-config", "warden.yaml", "--json", cwd=tmp_path)
    assert ran.code == 2, ran.stderr
    verdict = json.loads(ran.stdout)
    assert set(verdict) == {"file", "valid", "problems", "warnings", "monitors", "datasets"}
    assert verdict["valid"] is False and (verdict["monitors"], verdict["datasets"]) == (1, 1)
    assert [(p["path"], p["line"]) for p in verdict["problems"]] == [
        ("datasets.events.roles.label", 2),
        ("monitors.churn_drift.columns[1]", 5),
    ]
    text = run_warden("validate-config", "warden.yaml", cwd=tmp_path)
    assert text.code == 2 and "Traceback" not in text.stderr
    assert "monitors.churn_drift.columns[1] (line 5): column 'contry' is not in dataset" in (
        text.stderr
    )
    (tmp_path / "warden.yaml").write_text(_config())
    fine = run_warden("validate-config", "warden.yaml", "--json", cwd=tmp_path)
    assert fine.code == 0 and json.loads(fine.stdout)["valid"] is True


def test_the_filed_case_text_times_are_a_clear_problem_not_an_internal_error(tmp_path: Path):
    """Issue 16: a CSV with `03/01/2025 00:08:23` times was an internal error."""
    _csv(tmp_path)
    (tmp_path / "warden.yaml").write_text(_config(extra=""))
    ran = run_warden("validate-config", "warden.yaml", cwd=tmp_path)
    assert ran.code == 2 and "Internal error" not in ran.stderr
    assert "datasets.events.time_column (line 2)" in ran.stderr
    assert "set `time_format`" in ran.stderr


@pytest.mark.parametrize(
    ("data_format", "time_format", "message"),
    [
        ("csv", "%Y-%m-%d %q", "%q is not a directive time_format understands"),
        ("spark", "%a %d %b %Y", "%a (a day name) cannot be parsed by Spark"),
    ],
)
def test_a_format_the_engine_cannot_parse_is_a_config_error(
    tmp_path: Path, data_format: str, time_format: str, message: str
):
    (tmp_path / "warden.yaml").write_text(
        f"datasets:\n  events: {{format: {data_format}, path: events, time_column: ts,\n"
        f'    time_format: "{time_format}"}}\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "warden.yaml")
    (problem,) = refused.value.problems
    assert problem.path == "datasets.events.time_format" and message in problem.message


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (skipped without WARDEN_TEST_POSTGRES_URL)."""
    from tests.conftest import _fresh_postgres_database

    for url in _fresh_postgres_database():
        yield url.replace("postgresql+psycopg://", "postgresql://")


@pytest.mark.postgres
def test_postgres_table_text_times_and_columns(tmp_path: Path, postgres_url: str):
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE events (ts text, amount double precision)")
        for hour, instant in enumerate(HOURS):
            connection.execute(
                "INSERT INTO events VALUES (%s, %s)", (instant.strftime(US_FORMAT), hour)
            )

    def config(extra: str) -> str:
        return (
            f"datasets:\n  events: {{format: postgres, url: '{postgres_url}', table: events, "
            f"time_column: ts{extra}}}\nmonitors:\n" + DRIFT.format(columns="[amount, amuont]")
        )

    problems = _problems(_check(tmp_path, config("")))
    assert (
        "time column 'ts' is text; set `time_format`" in (problems["datasets.events.time_column"])
    )
    assert "did you mean 'amount'?" in problems["monitors.churn_drift.columns[1]"]
    # With the format the table fits, but for the misspelt column.
    problems = _problems(_check(tmp_path, config(FORMAT)))
    assert list(problems) == ["monitors.churn_drift.columns[1]"]
    wrong = FORMAT.replace("%m/%d/%Y", "%Y-%m-%d")
    problems = _problems(_check(tmp_path, config(wrong)))
    assert "PostgreSQL says:" in problems["datasets.events.time_format"]
