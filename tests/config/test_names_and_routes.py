"""Names in monitors, routes and maintenance windows, through the real loader: each unknown or
repeated name is reported at its own place and line, beside every other problem, with a
suggestion when the name looks like a typo."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from daemon.config import ConfigError, load_config
from daemon.config.models import WardenConfig

DATASETS_AND_MONITORS = """\
datasets:
  loans: {format: csv, path: loans.csv, time_column: t}
  fraud: {format: csv, path: fraud.csv, time_column: t}
monitors:
  - {name: loans-fresh, kind: freshness, dataset: loans, max_lag: 2h}
  - {name: fraud-fresh, kind: freshness, dataset: fraud, max_lag: 2h}
"""  # six lines: what follows starts at line 7

PATTERNS_LISTED = (
    "feature_drift, label_drift, prediction_drift, category_emergence, null_spike, "
    "out_of_range, schema_change, corrupt_partition, stale_data, missing_partition, "
    "volume_drop, distribution_skew, value_skew, corrupt_asset, unreadable_asset, "
    "duplicate_asset, near_duplicate_asset, split_leakage, missing_asset, unlisted_asset, "
    "asset_property_drift, multivariate_drift, metric_anomaly"
)


def _problems(tmp_path: Path, text: str) -> list[tuple[str, int | None, str]]:
    path = tmp_path / "warden.yaml"
    path.write_text(dedent(text))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return [(p.path, p.line, p.message) for p in caught.value.problems]


def test_every_unknown_name_is_reported_at_its_place_beside_other_problems(tmp_path: Path):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + "  - {name: broken, kind: freshness, dataset: loans, max_lag: 1 day}\n"  # line 7
        "routes:\n"
        "  - match: {dataset: fruad}\n"  # line 9
        "    playbook: quarantine\n"
        "  - match:\n"
        "      monitor: [fraud-fresh, loans-frsh, nothing-like-it]\n"  # line 12
        "    playbook: null\n"
        "maintenance:\n"
        "  - name: migration\n"
        "    match:\n"
        "      dataset:\n"
        "        - loans\n"
        "        - warehouse\n"  # line 19
        "    start: 2025-03-01\n"
        "    end: 2025-03-02\n",
    )
    assert problems == [
        (
            "monitors[2].max_lag",
            7,
            "'1 day' is not a duration: write an integer and a unit (s, m, h, d or w), "
            "for example 15m, 2h or 7d",
        ),
        (
            "routes[0].match.dataset",
            9,
            "unknown dataset 'fruad' (defined: fraud, loans); did you mean 'fraud'?",
        ),
        (
            "routes[1].match.monitor",
            12,
            "unknown monitor 'loans-frsh' (defined: broken, fraud-fresh, loans-fresh); "
            "did you mean 'loans-fresh'?",
        ),
        (
            "routes[1].match.monitor",
            12,
            "unknown monitor 'nothing-like-it' (defined: broken, fraud-fresh, loans-fresh)",
        ),
        (
            "maintenance[0].match.dataset",
            19,
            "unknown dataset 'warehouse' (defined: fraud, loans)",
        ),
    ]


def test_names_are_checked_when_nothing_is_defined(tmp_path: Path):
    problems = _problems(
        tmp_path,
        """\
        routes:
          - {match: {dataset: loans, monitor: m}, playbook: null}
        """,
    )
    assert problems == [
        ("routes[0].match.monitor", 2, "unknown monitor 'm' (none defined)"),
        ("routes[0].match.dataset", 2, "unknown dataset 'loans' (none defined)"),
    ]


def test_a_misspelt_playbook_pattern_or_choice_suggests_the_right_one(tmp_path: Path):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + """\
routes:
  - match: {pattern: null_spik}
    playbook: quarantin
  - match:
      pattern: [feature_drift, volume_dorp, nonsense]
      severity: critcal
    playbook: null
    approval: humn
""",
    )
    assert problems == [
        (
            "routes[0].match.pattern",
            8,
            f"unknown pattern 'null_spik' (patterns: {PATTERNS_LISTED}); "
            "did you mean 'null_spike'?",
        ),
        (
            "routes[0].playbook",
            9,
            "Input should be 'quarantine', 'relabel_batch', 'synthetic_backfill' or "
            "'restore_version'; did you mean 'quarantine'?",
        ),
        (
            "routes[1].match.pattern[1]",
            11,
            f"unknown pattern 'volume_dorp' (patterns: {PATTERNS_LISTED}); "
            "did you mean 'volume_drop'?",
        ),
        (
            "routes[1].match.pattern[2]",
            11,
            f"unknown pattern 'nonsense' (patterns: {PATTERNS_LISTED})",
        ),
        (
            "routes[1].match.severity",
            12,
            "Input should be 'info', 'warning' or 'critical'; did you mean 'critical'?",
        ),
        (
            "routes[1].approval",
            14,
            "Input should be 'auto', 'human' or 'two_person'; did you mean 'human'?",
        ),
    ]


def test_params_without_a_playbook_say_they_need_one(tmp_path: Path):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + """\
routes:
  - match: {dataset: fraud}
    params: {max_files: 5}
  - match: {dataset: loans}
    playbook: null
    params: {max_files: 5}
""",
    )
    assert problems == [
        (
            "routes[0]",
            8,
            "`params` needs a `playbook`, and this route has none: add `playbook:` with one "
            "of quarantine, relabel_batch, synthetic_backfill, restore_version, or remove "
            "`params` to notify only",
        ),
        ("routes[1]", 10, "`params` needs a `playbook` (a notify-only route takes none)"),
    ]


def test_a_route_without_a_playbook_or_params_still_needs_the_key(tmp_path: Path):
    problems = _problems(tmp_path, DATASETS_AND_MONITORS + "routes:\n  - match: {dataset: fraud}\n")
    assert problems == [("routes[0].playbook", 8, "required key `playbook` is missing")]


def test_params_the_playbook_does_not_accept_are_reported_at_the_route(tmp_path: Path):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + """\
routes:
  - match: {dataset: fraud}
    playbook: quarantine
    params: {max_files: 0}
""",
    )
    assert problems == [
        (
            "routes[0].params",
            10,
            "not valid for quarantine: max_files: Input should be greater than or equal to 1",
        )
    ]


def test_repeated_route_and_maintenance_names_name_both_places(tmp_path: Path):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + """\
routes:
  - name: fraud-nulls
    match: {dataset: fraud}
    playbook: quarantine
  - {name: notify, playbook: null}
  - name: fraud-nulls
    playbook: null
maintenance:
  - {name: migration, start: 2025-03-01, end: 2025-03-02}
  - {name: migration, start: 2025-04-01, end: 2025-04-02}
  - {name: migration, start: 2025-05-01, end: 2025-05-02}
""",
    )
    assert problems == [
        (
            "routes[2].name",
            12,
            "route name 'fraud-nulls' is already used at routes[0].name (line 8); "
            "names must be unique",
        ),
        (
            "maintenance[1].name",
            16,
            "maintenance window name 'migration' is already used at maintenance[0].name "
            "(line 15); names must be unique",
        ),
        (
            "maintenance[2].name",
            17,
            "maintenance window name 'migration' is already used at maintenance[0].name "
            "(line 15); names must be unique",
        ),
    ]


def test_repeated_monitor_names_name_both_places_beside_other_problems(tmp_path: Path):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + "  - {name: loans-fresh, kind: freshness, dataset: loans, max_lag: 1 day}\n"  # line 7
        "  - {name: loans-fresh, kind: freshness, dataset: fraud, max_lag: 3h}\n",  # line 8
    )
    assert problems == [
        (
            "monitors[2].max_lag",
            7,
            "'1 day' is not a duration: write an integer and a unit (s, m, h, d or w), "
            "for example 15m, 2h or 7d",
        ),
        (
            "monitors[2].name",
            7,
            "monitor name 'loans-fresh' is already used at monitors[0].name (line 5); "
            "names must be unique",
        ),
        (
            "monitors[3].name",
            8,
            "monitor name 'loans-fresh' is already used at monitors[0].name (line 5); "
            "names must be unique",
        ),
    ]


def test_unnamed_routes_do_not_clash(tmp_path: Path):
    path = tmp_path / "warden.yaml"
    routes = (
        "routes:\n"
        "  - {match: {dataset: fraud}, playbook: quarantine}\n"
        "  - {match: {dataset: loans}, playbook: null}\n"
    )
    path.write_text(DATASETS_AND_MONITORS + routes)
    assert [route.name for route in load_config(path, environ={}).routes] == [None, None]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-03-02", "2025-03-01"),  # a bare end date includes that day, still before start
        ("2025-03-01T10:00:00Z", "2025-03-01T10:00:00Z"),  # an empty window
        ("2025-03-01T12:00:00+02:00", "2025-03-01T10:00:00Z"),  # the same instant
    ],
)
def test_a_maintenance_window_must_end_after_it_starts(tmp_path: Path, start: str, end: str):
    problems = _problems(
        tmp_path,
        DATASETS_AND_MONITORS
        + f"maintenance:\n  - name: migration\n    start: {start}\n    end: {end}\n",
    )
    assert problems == [("maintenance[0]", 8, "`end` must be after `start`")]


def test_a_one_day_maintenance_window_written_as_dates_is_valid(tmp_path: Path):
    path = tmp_path / "warden.yaml"
    path.write_text(
        DATASETS_AND_MONITORS + "maintenance:\n"
        "  - {name: migration, match: {monitor: loans-fresh}, start: 2025-03-01, end: 2025-03-01}\n"
    )
    (window,) = load_config(path, environ={}).maintenance
    assert (window.end - window.start).days == 1


def test_problems_are_listed_in_file_order(tmp_path: Path):
    problems = _problems(
        tmp_path,
        """\
        datasets:
          d: {format: csv, path: x.csv, time_column: t}
        monitors:
          - {name: m, kind: freshness, dataset: e, max_lag: 2h}
          - {name: n, kind: freshness, dataset: d, max_lag: 2 hours}
        """,
    )
    assert [(path, line) for path, line, _ in problems] == [
        ("monitors[0].dataset", 4),
        ("monitors[1].max_lag", 5),
    ]


def test_built_in_code_the_model_reports_each_name_problem_once():
    with pytest.raises(ValueError) as caught:
        WardenConfig.model_validate(
            {
                "datasets": {"loans": {"format": "csv", "path": "x.csv", "time_column": "t"}},
                "routes": [
                    {"name": "a", "match": {"dataset": ["loans", "lonas"]}, "playbook": None},
                    {"name": "a", "match": {"monitor": "m"}, "playbook": None},
                ],
            }
        )
    text = str(caught.value)
    expected = (
        "routes[0].match.dataset: unknown dataset 'lonas' (defined: loans); did you mean "
        "'loans'?; routes[1].match.monitor: unknown monitor 'm' (none defined); "
        "routes[1].name: route name 'a' is already used at routes[0].name; names must be unique"
    )
    assert expected in text
    assert text.count("unknown dataset") == 1


def test_built_in_code_the_model_names_both_uses_of_a_repeated_monitor_name():
    fresh = {"name": "m", "kind": "freshness", "dataset": "loans", "max_lag": "2h"}
    with pytest.raises(ValueError) as caught:
        WardenConfig.model_validate(
            {
                "datasets": {"loans": {"format": "csv", "path": "x.csv", "time_column": "t"}},
                "monitors": [fresh, {**fresh, "max_lag": "3h"}],
            }
        )
    assert (
        "monitors[1].name: monitor name 'm' is already used at monitors[0].name; "
        "names must be unique"
    ) in str(caught.value)
