# syntax=docker/dockerfile:1
# One image, three targets built from the same layers:
#   server        both functions behind the WSGI server (Kubernetes, Docker, the LocalStack kit)
#   lambda        the query function on AWS Lambda (awslambdaric); infra/sam/template.yaml builds it
#   server-spark  the server with pyspark and a Java runtime, for Spark datasets (Kubernetes);
#                 the Lambda image carries no JVM
#   server-ml     the server with the `ml` extra (SmartNoise-Synth, OpenDP's MST/AIM on JAX,
#                 diffprivlib): synthetic data and DP models (Kubernetes, Helm image.variant)
#   lambda-ml     the fit function on AWS Lambda: the same, serving those engines' routes
#                 and running their jobs (infra/sam/template.yaml, FitFunction)
# The query function ships as an image: its dependencies (~500 MB unzipped) are over
# Lambda's 250 MB zip limit. Versions come from requirements/constraints.txt, as for `make`.
ARG PYTHON_IMAGE=python:3.13-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- dashboard: the admin dashboard's static files, built by Vite from its npm lock
FROM ${NODE_IMAGE} AS dashboard
WORKDIR /src/dashboard
COPY dashboard/package.json dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY dashboard/index.html dashboard/vite.config.js ./
COPY dashboard/src src
RUN npx --no-install vite build --logLevel warn

# ---- build: a virtualenv with the pinned dependencies and Lomas (wheels, and pure-Python
#      sdists such as antlr4-python3-runtime; nothing is compiled)
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/lomas
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
COPY requirements/ml-nodeps.txt requirements/ml-nodeps.txt
COPY client client
COPY pyproject.toml ./
COPY shared shared
COPY functions functions
COPY --from=dashboard /src/functions/admin/chalicelib/ui functions/admin/chalicelib/ui
RUN /opt/lomas/bin/pip install -c requirements/constraints.txt \
        ./client '.[lambda]' \
    && /opt/lomas/bin/python -m compileall -q /opt/lomas/lib

# ---- runtime: the virtualenv on a clean slim image, run by a non-root user
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 lomas \
    && useradd --system --uid 10001 --gid lomas --home-dir /var/lib/lomas --shell /usr/sbin/nologin lomas \
    && mkdir -p /var/lib/lomas && chown lomas:lomas /var/lib/lomas
COPY --from=build /opt/lomas /opt/lomas
ENV PATH=/opt/lomas/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOMAS_STATE_DIR=/var/lib/lomas
WORKDIR /var/lib/lomas
USER 10001:10001

# ---- server: `lomas-serve` on 0.0.0.0:8080 (LOMAS_MONGODB_URL from the environment)
FROM runtime AS server
ENV LOMAS_HOST=0.0.0.0 \
    LOMAS_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('LOMAS_PORT', '8080'), timeout=4)"]
CMD ["lomas-serve"]

# ---- lambda: the Lambda runtime interface client; the handler is the command
FROM runtime AS lambda
ENV LOMAS_STATE_DIR=/tmp/lomas
ENTRYPOINT ["/opt/lomas/bin/python", "-m", "awslambdaric"]
CMD ["functions.query.handler.handler"]

# ---- build-spark: the same virtualenv with the spark extra (pyspark, py4j)
FROM build AS build-spark
RUN /opt/lomas/bin/pip install -c requirements/constraints.txt '.[spark]' \
    && /opt/lomas/bin/python -m compileall -q /opt/lomas/lib

# ---- server-spark: the server with a Java runtime, for Spark datasets (LOMAS_SPARK_MASTER)
FROM runtime AS server-spark
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build-spark /opt/lomas /opt/lomas
USER 10001:10001
ENV LOMAS_HOST=0.0.0.0 \
    LOMAS_PORT=8080
EXPOSE 8080
CMD ["lomas-serve"]

# ---- build-ml: the same virtualenv with the ml extra; SmartNoise-Synth without its declared
#      dependencies, which pull torch (requirements/ml-nodeps.txt)
FROM build AS build-ml
RUN /opt/lomas/bin/pip install -c requirements/constraints.txt './client[sklearn]' '.[ml]' \
    && /opt/lomas/bin/pip install --no-deps -c requirements/constraints.txt \
        -r requirements/ml-nodeps.txt \
    && /opt/lomas/bin/python -m compileall -q /opt/lomas/lib

# ---- server-ml: the server that also fits synthesizers and models
FROM runtime AS server-ml
COPY --from=build-ml /opt/lomas /opt/lomas
ENV LOMAS_HOST=0.0.0.0 \
    LOMAS_PORT=8080
EXPOSE 8080
CMD ["lomas-serve"]

# ---- lambda-ml: the fit function (its jobs run in asynchronous invocations of itself)
FROM runtime AS lambda-ml
COPY --from=build-ml /opt/lomas /opt/lomas
ENV LOMAS_STATE_DIR=/tmp/lomas
ENTRYPOINT ["/opt/lomas/bin/python", "-m", "awslambdaric"]
CMD ["functions.query.handler.handler"]
