# The two commands of the README, and what CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint venv k8s-binaries helm-binary manifests bench

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

## test: lint, type-check and every test, including those against a real kube-apiserver
test: venv k8s-binaries helm-binary lint
	$(BIN)/python -m pytest -q
