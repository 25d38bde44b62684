"""Serving the FastAPI app with uvicorn on a thread of `warden run`."""

from __future__ import annotations

import threading

import uvicorn
from fastapi import FastAPI


class HttpServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        # On a thread other than the main one, uvicorn leaves signals alone: they stay the
        # daemon's (its SIGTERM handler stops the scheduler, then this server).
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="warden-http", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        pause = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if self.server.started or not self.thread.is_alive():
                break
            pause.wait(0.05)
        if not self.server.started:
            raise RuntimeError("the HTTP server did not start (is the port in use?)")

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
