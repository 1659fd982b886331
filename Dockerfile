# One image for both services: `rarematch eligibility` and `rarematch notifier`
# (settings come from RAREMATCH_* environment variables).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: durable-rules ships only an sdist with a C extension, so compile it here and
# keep the compiler out of the runtime image.
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/rarematch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN /opt/rarematch/bin/pip install .

# --- runtime: the virtualenv (same Python path as the build stage), rules and examples.
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/rarematch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAREMATCH_RULES_DIR=/app/rules \
    RAREMATCH_NOTIFIER_STORE_PATH=/app/var/notifier.sqlite3
RUN groupadd --system --gid 10001 rarematch \
    && useradd --system --uid 10001 --gid rarematch --home-dir /app --no-create-home rarematch \
    && mkdir -p /app/var && chown 10001:10001 /app/var
COPY --from=build /opt/rarematch /opt/rarematch
WORKDIR /app
COPY rules ./rules
COPY examples ./examples
USER 10001:10001
# Prometheus /metrics: eligibility 9101, notifier 9102.
EXPOSE 9101 9102
ENTRYPOINT ["rarematch"]
CMD ["--help"]
