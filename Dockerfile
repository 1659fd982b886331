# One image for both services (`rarematch eligibility`, `rarematch notifier`) and the demo
# (`docker run IMAGE demo`); settings come from RAREMATCH_* environment variables.
# Everything Python is installed from uv.lock, so the image holds the versions CI tested.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_VERSION=0.13.9

# --- build: durable-rules ships only an sdist with a C extension, so compile it here and keep
# the compiler out of the runtime image. Maven fetches the Kafka jars the demo's broker runs.
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev openjdk-17-jre-headless maven \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/opt/rarematch UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1
RUN pip install uv==${UV_VERSION}
WORKDIR /src
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY services ./services
# --locked: the build fails when uv.lock does not match pyproject.toml.
RUN uv sync --locked --no-editable --extra demo --python /usr/local/bin/python3
RUN RAREMATCH_CACHE_DIR=/opt/rarematch-cache /opt/rarematch/bin/python -c \
    "from rarematch import localkafka as k; k.provision(k.BrokerConfig())"

# --- runtime: the virtualenv (same Python path as the build stage), a JRE and the Kafka jars
# for the demo's broker, rules and examples.
FROM ${PYTHON_IMAGE}
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/opt/rarematch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAREMATCH_CACHE_DIR=/opt/rarematch-cache \
    RAREMATCH_KAFKA_STATE_DIR=/app/var/kafka \
    RAREMATCH_RULES_DIR=/app/rules \
    RAREMATCH_NOTIFIER_STORE_PATH=/app/var/notifier.sqlite3
RUN groupadd --system --gid 10001 rarematch \
    && useradd --system --uid 10001 --gid rarematch --home-dir /app --no-create-home rarematch \
    && mkdir -p /app/var && chown 10001:10001 /app/var
COPY --from=build /opt/rarematch /opt/rarematch
COPY --from=build /opt/rarematch-cache /opt/rarematch-cache
WORKDIR /app
COPY rules ./rules
COPY examples ./examples
USER 10001:10001
# /metrics, /healthz, /readyz: eligibility 9101, notifier 9102 (RAREMATCH_METRICS_HOST opens them).
EXPOSE 9101 9102
ENTRYPOINT ["rarematch"]
CMD ["--help"]
