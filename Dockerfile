# report-exporter: one image for the CronJob's getter (init container, `get --out /data`) and uploader
# (main container, `upload --from /data`). Build with BuildKit (the default since Docker 23):
#
#   docker build --build-arg VERSION=0.1.0 -t registry.example.com/report-exporter:0.1.0 .
#
# tests/test_image.py checks this file statically and runs the same pip steps into a fresh virtual environment.

# ---------------------------------------------------------------------------------------------------------------
# builder: build the project's wheel and a wheel for every runtime dependency into /wheels
# ---------------------------------------------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter

RUN python -m pip wheel --wheel-dir /wheels .

# ---------------------------------------------------------------------------------------------------------------
# runtime: the same pinned base, the built wheels only (no compilers, no build tools, no sources)
# ---------------------------------------------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm

ARG VERSION=0.1.0
# No canonical repository URL is recorded in the project yet: override at build time.
ARG SOURCE=https://github.com/example/report-exporter

LABEL org.opencontainers.image.title="report-exporter" \
      org.opencontainers.image.description="Dump Trivy Operator and Kubescape reports from Kubernetes, archive them to S3 and import them into DefectDojo" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A fixed, non-root identity matching the CronJob's securityContext (runAsUser/runAsGroup/fsGroup 10001).
RUN groupadd --system --gid 10001 exporter \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin exporter \
    && install -d -o 10001 -g 10001 -m 0750 /data

# The wheels are bind-mounted from the builder, so they never land in a layer; --no-index means nothing is fetched.
# pip byte-compiles while installing, so a read-only root filesystem costs no start-up time.
# No pip, setuptools or wheel in the image (docs/security.md, "Dependency audit"): the virtual environment is made
# without pip, the base's pip installs into it from outside (`--python`, pip >= 22.3; the base has 24.0), then
# removes itself, setuptools and wheel from the base's interpreter (and the base's `pip` symlink to pip3).
# The base's interpreter is named in full: PATH puts /opt/venv/bin first, so a bare `python` is the venv's once
# it exists, and that one has no pip.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    /usr/local/bin/python -m venv --without-pip /opt/venv \
    && /usr/local/bin/python -m pip --python /opt/venv/bin/python install --no-cache-dir --no-index --find-links /wheels report-exporter \
    && /usr/local/bin/python -m pip uninstall --yes --no-cache-dir pip setuptools wheel \
    && rm -f /usr/local/bin/pip \
    && /opt/venv/bin/report-exporter --version

USER 10001:10001
WORKDIR /data

ENTRYPOINT ["report-exporter"]
CMD ["--help"]
