# The two commands of the README, and what CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint venv k8s-binaries helm-binary manifests bench lock audit mutation

$(BIN)/report-exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/report-exporter

## demo: install, then run the main job on the bundled sample cluster: run directories in demo/runs,
## the archive (same layout as in S3) in demo/archive, the documents DefectDojo would receive in demo/dojo
demo: venv
	$(BIN)/report-exporter run --sample --out demo/runs --archive file://$(CURDIR)/demo/archive
	$(BIN)/report-exporter dojo plan demo/runs --documents demo/dojo

## k8s-binaries: build (first time, several minutes) or reuse kube-apiserver, etcd and kubectl
k8s-binaries:
	bash scripts/k8s/ensure-binaries.sh

## helm-binary: build (first time, ~2.5 min) or reuse the helm the playbook tests drive
helm-binary:
	bash scripts/helm/ensure-helm.sh

## manifests: render cronjob/ and configmap/ from the Ansible role's templates with the example inventory
manifests: venv
	$(BIN)/ansible-playbook -i playbooks/inventory/example playbooks/render_manifests.yaml

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ansible-lint playbooks/

## lock: requirements.lock, the runtime dependencies as the image installs them: a virtual environment made
## without pip, filled from outside (`pip --python`), so neither pip nor setuptools is locked (nor in the image);
## commit it, `make audit` checks it
lock:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv --without-pip "$$tmp/venv"; $(PYTHON) -m pip --python "$$tmp/venv/bin/python" install -q .; \
	{ echo "# The runtime dependencies, locked: make lock (from pyproject.toml); audited by make audit"; \
	  echo "# ($$($(PYTHON) --version), $$(date -u +%Y-%m-%d))"; \
	  $(PYTHON) -m pip --python "$$tmp/venv/bin/python" freeze --all --exclude report-exporter; } > requirements.lock

## audit: pip-audit of requirements.lock, offline, against ADVISORY_DB=<a PyPA advisory-database checkout>; an
## untriaged finding fails (triage: security/triage.yaml and docs/security.md). Not in `make test`: no package of
## the registries CI reaches ships the advisory database, and a copy of it may not be committed here.
audit: venv
	@test -n "$(ADVISORY_DB)" || { echo "make audit needs ADVISORY_DB=<checkout of github.com/pypa/advisory-database>" >&2; exit 2; }
	$(BIN)/python scripts/audit/offline_audit.py --advisories $(ADVISORY_DB)

## test: lint, type-check and every test, including those against a real kube-apiserver
test: venv k8s-binaries helm-binary lint
	$(BIN)/python -m pytest -q

## mutation: mutation testing (mutmut, [tool.mutmut] in pyproject.toml) of the DefectDojo planner and sync, retention,
## pruning, the uploader and the getter; scheduled, not part of `make test` (several hours on 2 cores). It mutates a copy in
## mutants/, never exporter/; MUTANTS='exporter.dojo.plan.*' limits it to one module; `$(BIN)/mutmut results`
## lists the survivors: kill each with a test or write down why it is harmless in docs/reliability.md.
mutation: venv
	$(BIN)/mutmut run $(MUTANTS)
	$(BIN)/mutmut results
