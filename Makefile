# make help (the default) lists the targets. make deploy: this machine -> MLflow on
# http://127.0.0.1:5005. make test: lint, unit tests and every Molecule scenario.
SHELL := /bin/bash
VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Python keeps what it compiles (__pycache__): hosts that set PYTHONDONTWRITEBYTECODE
# would compile ansible and mlflow from source in every process. The venv is installed
# without byte-compiling, so what runs is compiled once, on first use.
unexport PYTHONDONTWRITEBYTECODE
# Scenarios run in two lanes side by side (scripts/molecule-lanes.sh); one lane per
# quoted list. One scenario: make molecule LANES=default
# The suite is CPU-bound on 2 cores: the first lane carries the fleet (the longest
# scenario), the second the rest, balanced by the scenarios' times in CI-like runs
# (docs/testing.md). s3, whose failing deploys wait on boto's retries, runs before auth,
# so that the run does not end on waits with one lane idle. fleet, gcs and s3 build
# 3.17.2 after default or upgrade has, and the server-only 2.13.0 is built once, by
# whichever of default (its neighbours test), fleet and mariadb gets there first: the
# others find them in the build cache.
LANES ?= "upgrade fleet releases gcs azure" "default mariadb s3 auth"

.DEFAULT_GOAL := help

.PHONY: help venv venv-test deploy status teardown uninstall collection test checks prepare-host lint lint-ansible lint-static unit molecule lock lock-all lock-tools bench bench-fleet

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

# The deploy's venv: Ansible (with its collections) and the Docker SDK only.
$(VENV)/.deploy-installed: requirements-deploy.txt scripts/bootstrap-venv.sh
	scripts/bootstrap-venv.sh $(VENV) requirements-deploy.txt
	touch $@

# The test tools on top (molecule, pytest, linters, the MLflow client, emulators).
$(VENV)/.installed: $(VENV)/.deploy-installed requirements.txt
	$(VENV)/bin/pip install --quiet --no-compile -r requirements.txt
	touch $@

venv: $(VENV)/.deploy-installed ## Create .venv with Ansible and the Docker SDK (what a deploy needs)

venv-test: $(VENV)/.installed ## Add the test tools to .venv

deploy: venv ## Deploy MLflow on this machine (inventory/local): http://127.0.0.1:5005
	@echo "Deploying MLflow on this machine. A first run builds the image: a few minutes; a re-run, seconds."
	ansible-playbook -i inventory/local/hosts.yml playbooks/site.yml

status: venv ## Report this machine's server (health, release, image, backups); changes nothing
	ansible-playbook -i inventory/local/hosts.yml playbooks/status.yml

teardown: venv ## Remove this machine's server container; keeps images and data
	ansible-playbook -i inventory/local/hosts.yml playbooks/teardown.yml

uninstall: venv ## Remove the container, its images and ALL its data (tracking DB, artifacts)
	ansible-playbook -i inventory/local/hosts.yml playbooks/teardown.yml \
		-e mlflow_server_remove_images=true -e mlflow_server_remove_data=true

collection: venv ## Build the Ansible collection tarball into dist/
	ansible-galaxy collection build --force --output-path dist .

# The checks run beside the host's preparation (engine, base image) and the scenarios.
test: venv-test ## Lint, unit tests and every Molecule scenario, against real services
	scripts/test.sh $(LANES)

checks: lint unit

prepare-host: venv ## Docker engine, base image and host user, without deploying
	ansible-playbook -i inventory/local/hosts.yml playbooks/prepare_host.yml

# ansible-lint (most of the time) beside the quick checks.
lint: venv-test ## ansible-lint, yamllint, ruff, the secret scan
	$(MAKE) --no-print-directory --jobs=2 --output-sync=target lint-ansible lint-static

lint-ansible:
	ansible-lint

lint-static:
	antsibull-changelog lint
	python scripts/check_secrets.py
	yamllint --strict .
	ruff check .
	ruff format --check .

unit: venv-test ## Unit tests (no Docker needed)
	pytest tests/unit

molecule: venv-test prepare-host ## Molecule scenarios in lanes (LANES="default")
	scripts/molecule-lanes.sh $(LANES)

lock: venv-test ## Lock MLflow releases for the image (VERSIONS="3.18.0")
	python scripts/lock_mlflow.py $(VERSIONS)

lock-all: venv-test ## Re-resolve every release's lock
	python scripts/lock_mlflow.py --all --jobs 4

lock-tools: venv-test ## Compile requirements*.txt from requirements*.in
	uv pip compile requirements-deploy.in -c requirements.txt --python-version 3.11 --quiet --no-header -o requirements-deploy.txt
	sed -i '1i # Compiled from requirements-deploy.in by `make lock-tools` (uv pip compile -c requirements.txt); do not edit by hand.' requirements-deploy.txt
	uv pip compile requirements.in --python-version 3.11 --quiet --no-header -o requirements.txt
	sed -i '1i # Compiled from requirements.in by `make lock-tools` (uv pip compile); do not edit by hand.' requirements.txt
	uv pip compile requirements-bench.in -c requirements.txt --python-version 3.11 --quiet --no-header -o requirements-bench.txt
	sed -i '1i # Compiled from requirements-bench.in by `make lock-tools` (uv pip compile -c requirements.txt); do not edit by hand.' requirements-bench.txt

# Every bench in one run -> docs/benchmarks.md and docs/benchmarks.png.
# One bench: make bench BENCH_ARGS="--only throughput"
$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(VENV)/bin/pip install --quiet --no-compile -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench-installed ## Every benchmark against its baseline -> docs/benchmarks.md
	python bench/report.py $(BENCH_ARGS)

# Build once and ship vs build on every host, on the fleet scenario's hosts.
bench-fleet: venv-test prepare-host ## Build once and ship vs build on every host
	bench/fleet_ship.sh
