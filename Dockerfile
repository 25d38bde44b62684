# Warden daemon image: `docker run -v $PWD/warden.yaml:/etc/warden/warden.yaml ml-warden`
# The config is mounted, never baked in; secrets come from the environment.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daemon ./daemon
COPY detectors ./detectors
COPY playbooks ./playbooks
COPY agents ./agents
# Extras in the image; add delta,iceberg for Delta Lake and Iceberg datasets (about 150 MB).
ARG EXTRAS=postgres,assets,lineage
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[${EXTRAS}]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WARDEN_CONFIG=/etc/warden/warden.yaml \
    WARDEN_PLAYBOOKS__WORK_ROOT=/var/lib/warden/work
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin warden \
    && mkdir -p /etc/warden /var/lib/warden && chown warden:warden /var/lib/warden
USER warden
WORKDIR /var/lib/warden
# Quarantined files, label batches and synthetic partitions (playbooks.work_root, set above
# because the mounted config's folder is read-only): keep them on a volume.
VOLUME /var/lib/warden
EXPOSE 8080
# /healthz answers 503 when the scheduler stops beating (a stuck daemon): restart it then.
# Busy scans or an unreachable store do not fail it; /readyz reports those.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
# Logs are JSON lines on stderr (not a terminal); SIGTERM drains for daemon.shutdown_grace.
STOPSIGNAL SIGTERM
ENTRYPOINT ["warden", "run", "--http-host", "0.0.0.0", "--http-port", "8080"]
