# The gateway: `docker build -t newapi .` then `docker compose up` (see docs/operations.md).
# Two stages: the build stage installs the locked dependencies into /app/.venv with uv, the runtime
# stage copies only that venv onto a slim Python (no compilers, no uv, no source tree).
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY newapi_host ./newapi_host
COPY plugins ./plugins
COPY deploy/build.sh ./deploy/build.sh
RUN PYTHON=/usr/local/bin/python3 sh deploy/build.sh /app

FROM python:3.11-slim
# A system user with no shell owns the data directory; the gateway never runs as root.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin newapi \
    && mkdir -p /data && chown newapi:newapi /data
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    NEWAPI_DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER newapi
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=2)"]
# newapi serve drains requests in flight (streams included) on SIGTERM before the workers stop.
STOPSIGNAL SIGTERM
CMD ["newapi", "serve"]
