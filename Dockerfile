# Warden daemon image: `docker run -v $PWD/warden.yaml:/etc/warden/warden.yaml ml-warden`
# The config is mounted, never baked in; secrets come from the environment.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY daemon ./daemon
COPY detectors ./detectors
COPY playbooks ./playbooks
COPY agents ./agents
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WARDEN_CONFIG=/etc/warden/warden.yaml
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin warden \
    && mkdir -p /etc/warden /var/lib/warden && chown warden:warden /var/lib/warden
USER warden
WORKDIR /var/lib/warden
EXPOSE 8080
# The scheduler touches the heartbeat file every 15 s; a stale file means a stuck daemon.
ENV WARDEN_HEARTBEAT_FILE=/var/lib/warden/heartbeat
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, time; sys.exit(time.time() - os.path.getmtime(os.environ['WARDEN_HEARTBEAT_FILE']) > 60)"]
ENTRYPOINT ["warden", "run"]
