"""`multivariate_drift` monitors scanned as the daemon scans them: config, cached model,
verdict, incident and route, bad inputs; the same statistics through PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from daemon.config.models import WardenConfig
from daemon.scan import run_scan, sync_monitors

from .worlds import rows

START = datetime(2024, 1, 1, tzinfo=UTC)
AT = START + timedelta(days=8)
STEP = timedelta(seconds=30)


def _events(drift_rho: float | None) -> pd.DataFrame:
    """Seven reference days and one current day (x0-x1 correlation `drift_rho` if given)."""
    rng = np.random.default_rng(8)
    reference = rows(rng, 7 * 2880, step=STEP)
    current = rows(rng, 2880, start=START + timedelta(days=7), step=STEP, rho=drift_rho or 0.8)
    frame = pd.concat([reference, current], ignore_index=True)
    frame["constant"] = 1.0
    return frame


def _config(store_url: str, path: Path, **monitor: object) -> WardenConfig:
    return WardenConfig.model_validate(
        {
            "store": {"url": store_url},
            "datasets": {"events": {"format": "parquet", "path": str(path), "time_column": "ts"}},
            "monitors": [
                {
                    "name": "events-multivariate",
                    "kind": "multivariate_drift",
                    "dataset": "events",
                    "reference": {"start": "2024-01-01", "end": "2024-01-07"},
                    "window": "1d",
                    "columns": ["x0", "x1", "x2", "x3", "segment"],
                    **monitor,
                }
            ],
        }
    )


def _scan(store, tmp_path: Path, frame: pd.DataFrame, **monitor: object) -> dict:
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    config = _config(store.url.render_as_string(hide_password=False), path, **monitor)
    sync_monitors(store, config)
    report = run_scan(config, config.monitors[0], AT, store)
    assert report is not None
    return report.to_json_dict()


def test_a_broken_correlation_opens_one_incident_routed_to_a_stratified_relabel(
    store, tmp_path: Path
):
    report = _scan(store, tmp_path, _events(drift_rho=0.2))
    assert report["kind"] == "multivariate_drift" and report["status"] == "alert"
    (finding,) = report["findings"]
    assert finding["pattern"] == "multivariate_drift" and finding["column"] is None
    assert finding["method"] == "pca_reconstruction" and finding["alert"] is True
    assert finding["statistic"] > finding["threshold"] and finding["p_value"] < 0.01
    assert "gamma approximation" in finding["details"]["threshold_basis"]
    contributors = [item["column"] for item in finding["details"]["top_contributors"][:2]]
    assert set(contributors) == {"x0", "x1"}
    assert report["incident_id"] is not None
    from sqlmodel import select

    from daemon.store.models import Incident

    with store.session() as session:
        incident = session.exec(select(Incident)).one()
        assert incident.pattern == "multivariate_drift"
        assert incident.route["playbook"] == "relabel_batch"
        assert incident.route["params"] == {"strategy": "stratified"}
    # The second scan reads the model from the store and gives the same verdict.
    again = _scan(store, tmp_path, _events(drift_rho=0.2))
    assert report["reference_cached"] is False and again["reference_cached"] is True
    assert again["findings"][0]["statistic"] == pytest.approx(finding["statistic"], rel=1e-12)
    assert again["incident_id"] == report["incident_id"]


def test_a_clean_day_is_ok_and_the_classifier_agrees(store, tmp_path: Path):
    clean = _scan(store, tmp_path, _events(drift_rho=None))
    assert clean["status"] == "ok", clean
    classifier = _scan(
        store, tmp_path, _events(drift_rho=None), method="domain_classifier", sample_size=2000
    )
    assert classifier["status"] == "ok", classifier
    assert classifier["findings"][0]["method"] == "domain_classifier"
    drifted = _scan(
        store, tmp_path, _events(drift_rho=0.2), method="domain_classifier", sample_size=2000
    )
    assert drifted["status"] == "alert"
    top = [item["column"] for item in drifted["findings"][0]["details"]["top_features"][:2]]
    assert set(top) == {"x0", "x1"}


def test_bad_inputs_give_a_clear_error_or_insufficient_data(store, tmp_path: Path):
    frame = _events(drift_rho=None)
    constant = _scan(store, tmp_path, frame, columns=["x0", "constant"])
    assert constant["status"] == "error"
    assert "column 'constant' is constant in the reference" in constant["message"]
    missing = _scan(store, tmp_path, frame, columns=["x0", "nope"])
    assert missing["status"] == "error" and "no column(s) nope" in missing["message"]
    few = _scan(
        store, tmp_path, frame, reference={"start": "2024-01-01T00:00", "end": "2024-01-01T01:00"}
    )
    assert few["status"] == "insufficient_data"
    assert "the reference has 120 rows; the multivariate model needs 1000" in few["message"]
    one_row = frame[(frame["ts"] < START + timedelta(days=7)) | (frame.index == len(frame) - 1)]
    single = _scan(store, tmp_path, one_row.reset_index(drop=True))
    assert single["status"] == "insufficient_data"
    assert "the window has 1 rows" in single["message"]


def test_the_config_refuses_a_rolling_reference_and_fewer_than_two_columns(tmp_path: Path):
    with pytest.raises(ValidationError, match="rolling one would refit"):
        _config("sqlite://", tmp_path, reference={"offset": "7d", "window": "1d"})
    with pytest.raises(ValidationError, match="at least 2 items"):
        _config("sqlite://", tmp_path, columns=["x0"])
    with pytest.raises(ValidationError, match="pca_reconstruction"):
        _config("sqlite://", tmp_path, method="pca")


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgres_computes_the_same_model_and_window_error_as_duckdb(store):
    import ibis
    import psycopg

    from detectors.multivariate.fitting import fit_pca, window_error
    from detectors.sources.base import DatasetSource

    from .worlds import encoding_of, source

    # The store's fresh database (dropped after the test) holds the table too.
    url = store.url.render_as_string(hide_password=False).replace("+psycopg", "")
    frame = _events(drift_rho=0.2).drop(columns=["constant"])
    frame.loc[::17, "x2"] = None
    table_name = "mv_events"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE {table_name} (ts timestamptz, x0 double precision, "
            "x1 double precision, x2 double precision, x3 double precision, segment text)"
        )
        with connection.cursor().copy(
            f"COPY {table_name} (ts, x0, x1, x2, x3, segment) FROM STDIN"
        ) as copy:
            for row in frame.itertuples(index=False):
                copy.write_row([None if pd.isna(v) else v for v in row])
    backend = ibis.connect(url)
    postgres = DatasetSource("events", backend.table(table_name), time_column="ts")
    duck = source(frame)
    end_of_reference = START + timedelta(days=7)
    models = []
    for dataset in (duck, postgres):
        models.append(
            fit_pca(
                dataset,
                START,
                end_of_reference,
                encoding_of(duck),
                variance_share=0.9,
                clip=10.0,
                seed=0,
                min_rows=1000,
            )
        )
    # The same split (hash of the rows' text) is not promised across engines: the
    # models agree up to which half fitted them; each engine's error of one model agrees.
    model = models[0]
    errors = [window_error(d, end_of_reference, AT, model, 10.0) for d in (duck, postgres)]
    assert errors[0].rows == errors[1].rows == 2880
    assert errors[1].mean == pytest.approx(errors[0].mean, rel=1e-9)
    assert errors[1].variance == pytest.approx(errors[0].variance, rel=1e-9)
    assert models[1].kept == models[0].kept
    assert models[1].calibration.mean == pytest.approx(models[0].calibration.mean, rel=0.05)


def test_spark_computes_the_same_window_error_and_a_model_like_duckdbs(
    spark_master: str, tmp_path: Path
):
    from daemon.config.models import DatasetConfig
    from daemon.scan.datasets import open_dataset
    from detectors.multivariate.fitting import fit_pca, window_error

    from .worlds import encoding_of, source

    frame = _events(drift_rho=0.2).drop(columns=["constant"])
    frame.loc[::17, "x2"] = None
    folder = tmp_path / "events"
    folder.mkdir()
    # Spark reads microseconds, not pandas' nanoseconds.
    frame.to_parquet(
        folder / "part-0.parquet", coerce_timestamps="us", allow_truncated_timestamps=True
    )
    spark = open_dataset(
        "events",
        DatasetConfig.model_validate(
            {"format": "spark", "url": spark_master, "path": str(folder), "time_column": "ts"}
        ),
    )
    duck = source(frame)
    end_of_reference = START + timedelta(days=7)
    settings = {"variance_share": 0.9, "clip": 10.0, "seed": 0, "min_rows": 1000}
    model = fit_pca(duck, START, end_of_reference, encoding_of(duck), **settings)  # type: ignore[arg-type]
    on_spark = fit_pca(spark, START, end_of_reference, encoding_of(duck), **settings)  # type: ignore[arg-type]
    errors = [window_error(d, end_of_reference, AT, model, 10.0) for d in (duck, spark)]
    assert errors[0].rows == errors[1].rows == 2880
    assert errors[1].mean == pytest.approx(errors[0].mean, rel=1e-9)
    assert errors[1].variance == pytest.approx(errors[0].variance, rel=1e-9)
    # Spark's hash splits the reference differently: the same model up to that sample.
    assert on_spark.kept == model.kept
    assert on_spark.calibration.mean == pytest.approx(model.calibration.mean, rel=0.05)
