"""`/readyz` and `/metrics` over real HTTP: metrics read from the store, and readiness that
degrades when the store goes away and recovers by itself when it comes back."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import httpx
import pytest
from sqlalchemy.engine import make_url

from daemon.http.app import create_app
from daemon.http.metrics import DaemonMetrics
from daemon.http.probes import DaemonState
from daemon.http.server import HttpServer
from daemon.runtime.inflight import Lifecycle
from daemon.store.engine import open_store
from tests.conftest import POSTGRES_URL_VARIABLE
from tests.slack.scenario import detect, slack_config, write_data


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(store, config, state):
    port = _free_port()
    server = HttpServer(create_app(store, config, None, state), "127.0.0.1", port)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def test_metrics_report_the_store_and_this_process(store, tmp_path):
    write_data(tmp_path / "data")
    config = slack_config(tmp_path, "http://127.0.0.1:9/api/")
    detect(store, config)  # one open warning incident, one proposed run
    metrics = DaemonMetrics(store)
    metrics.scan_duration.labels("quality").observe(1.5)
    metrics.scheduler_lag.observe(0.2)
    server, base = _serve(store, config, DaemonState(metrics=metrics))
    try:
        text = httpx.get(f"{base}/metrics").text
    finally:
        server.stop()
    assert "warden_store_up 1.0" in text
    assert 'warden_open_incidents{severity="warning"} 1.0' in text
    assert 'warden_playbook_runs{status="proposed"} 1.0' in text
    assert "warden_outbox_backlog 0.0" in text  # no Slack hook installed here
    assert "warden_proposal_queue 0.0" in text  # the scan's proposal was planned
    assert 'warden_scan_duration_seconds_bucket{le="2.5",monitor="quality"} 1.0' in text
    assert "warden_scheduler_lag_seconds_count 1.0" in text


def test_readyz_reports_the_scheduler_and_the_slack_socket(store, tmp_path):
    config = slack_config(tmp_path, "http://127.0.0.1:9/api/")
    running = {"scheduler": True, "socket": True}
    state = DaemonState(
        scheduler_running=lambda: running["scheduler"],
        slack_connected=lambda: running["socket"],
    )
    server, base = _serve(store, config, state)
    try:
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        running["socket"] = False
        degraded = httpx.get(f"{base}/readyz")
        assert degraded.status_code == 503
        assert degraded.json()["checks"] == {
            "store": "ok",
            "scheduler": "ok",
            "slack_socket": "disconnected (reconnecting)",
        }
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive, not ready
    finally:
        server.stop()


def test_healthz_fails_when_the_scheduler_stops_beating_and_readyz_when_stopping(store, tmp_path):
    config = slack_config(tmp_path, "http://127.0.0.1:9/api/")
    lifecycle = Lifecycle()
    state = DaemonState(
        stopping=lifecycle.stopping.is_set,
        stuck=lambda: f"silent for {silent:.0f} s" if (silent := lifecycle.stuck_for(60)) else None,
    )
    server, base = _serve(store, config, state)
    try:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}  # no beat yet
        lifecycle.beat()
        assert httpx.get(f"{base}/healthz").status_code == 200
        lifecycle.last_beat = time.monotonic() - 61  # the loop stopped a minute ago
        stuck = httpx.get(f"{base}/healthz")
        assert stuck.status_code == 503 and stuck.json() == {
            "status": "stuck",
            "reason": "silent for 61 s",
        }
        lifecycle.beat()
        assert httpx.get(f"{base}/readyz").status_code == 200
        lifecycle.stopping.set()  # SIGTERM: out of the load balancer while it drains
        draining = httpx.get(f"{base}/readyz")
        assert draining.status_code == 503
        assert draining.json()["checks"]["lifecycle"].startswith("stopping (SIGTERM)")
    finally:
        server.stop()


class _Proxy:
    """A TCP proxy to PostgreSQL that can be cut and restored: the store "goes away"."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        self._listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # wakes the pipes blocked in recv
            connection.close()
        self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_readyz_degrades_while_postgres_is_away_and_recovers_by_itself(store, tmp_path):
    server_url = make_url(os.environ[POSTGRES_URL_VARIABLE])
    proxy = _Proxy((server_url.host or "127.0.0.1", server_url.port or 5432))
    proxy.start()
    through_proxy = store.url.set(host="127.0.0.1", port=proxy.port)
    proxied = open_store(through_proxy.render_as_string(hide_password=False))
    config = slack_config(tmp_path, "http://127.0.0.1:9/api/")
    server, base = _serve(proxied, config, DaemonState())
    try:
        assert httpx.get(f"{base}/readyz").status_code == 200
        proxy.stop()
        away = httpx.get(f"{base}/readyz", timeout=30)
        assert away.status_code == 503 and "unreachable" in away.json()["checks"]["store"]
        assert "warden_store_up 0.0" in httpx.get(f"{base}/metrics", timeout=30).text
        proxy.start()
        back = httpx.get(f"{base}/readyz", timeout=30)
        assert back.status_code == 200, back.json()
    finally:
        server.stop()
        proxied.close()
        proxy.stop()
