# make deploy: this machine -> MLflow on http://127.0.0.1:5005
# make test:   lint + unit tests + every Molecule scenario, against real services
SHELL := /bin/bash
VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Python keeps what it compiles (__pycache__): hosts that set PYTHONDONTWRITEBYTECODE (these
# machines do) would compile ansible and mlflow from source in every process (measured
# here: an ansible-playbook start 1.1-1.5 -> 0.6-0.7 s of CPU, `import mlflow` 3.4 -> 1.5 s;
# a module's own code comes from its AnsiballZ zip, compiled on every call either way).
# The venv is installed without byte-compiling, so what runs is compiled once, on first use.
unexport PYTHONDONTWRITEBYTECODE
# Scenarios run in two lanes side by side (scripts/molecule-lanes.sh); one lane per
# quoted list. One scenario: make molecule LANES=default
# Balanced by the CI-like run of f7d60d9 (2026-12-04: upgrade 313 s, fleet 765, releases
# 390, gcs 163; default 678, mariadb 233, s3 348, auth 365; 29 min 26 s in all, the
# lanes' scenarios adding up to 1631 and 1624 s): the first lane carries the fleet (its
# longest scenario), the second the rest; s3, whose failing deploys wait on boto's
# retries, runs before auth, so that the run does not end on waits with one lane idle.
# fleet, gcs and s3 build 3.17.2 after default or upgrade has, and the server-only
# 2.13.0 is built once, by whichever of default (its neighbours test), fleet and mariadb
# gets there first: the others find them in the cache. Three lanes were slower: the
# suite is CPU-bound on 2 cores.
LANES ?= "upgrade fleet releases gcs" "default mariadb s3 auth"

.PHONY: venv deploy teardown test checks prepare-host lint lint-ansible lint-static unit molecule lock lock-all lock-tools bench bench-fleet

$(VENV)/.installed: requirements.txt scripts/bootstrap-venv.sh
	scripts/bootstrap-venv.sh $(VENV)
	touch $@

venv: $(VENV)/.installed

deploy: venv
	ansible-playbook -i inventory/local/hosts.yml playbooks/site.yml

teardown: venv
	ansible-playbook -i inventory/local/hosts.yml playbooks/teardown.yml

# The checks run beside the host's preparation (engine, base image) and the scenarios.
test: venv
	scripts/test.sh $(LANES)

checks: lint unit

prepare-host: venv
	ansible-playbook -i inventory/local/hosts.yml playbooks/prepare_host.yml

# ansible-lint (most of the time) beside the quick checks.
lint: venv
	$(MAKE) --no-print-directory --jobs=2 --output-sync=target lint-ansible lint-static

lint-ansible:
	ansible-lint

lint-static:
	python scripts/check_secrets.py
	yamllint --strict .
	ruff check .
	ruff format --check .

unit: venv
	pytest tests/unit

molecule: prepare-host
	scripts/molecule-lanes.sh $(LANES)

lock: venv
	python scripts/lock_mlflow.py $(VERSIONS)

lock-all: venv
	python scripts/lock_mlflow.py --all --jobs 4

lock-tools: venv
	uv pip compile requirements.in --python-version 3.11 --quiet --no-header -o requirements.txt
	sed -i '1i # Compiled from requirements.in by `make lock-tools` (uv pip compile); do not edit by hand.' requirements.txt
	uv pip compile requirements-bench.in -c requirements.txt --python-version 3.11 --quiet --no-header -o requirements-bench.txt
	sed -i '1i # Compiled from requirements-bench.in by `make lock-tools` (uv pip compile -c requirements.txt); do not edit by hand.' requirements-bench.txt

# Every bench in one run -> docs/benchmarks.md and docs/benchmarks.png.
# One bench: make bench BENCH_ARGS="--only throughput"
$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(VENV)/bin/pip install --quiet --no-compile -r requirements-bench.txt
	touch $@

bench: $(VENV)/.bench-installed
	python bench/report.py $(BENCH_ARGS)

# Build once and ship vs build on every host, on the fleet scenario's hosts (~15 min).
bench-fleet: prepare-host
	bench/fleet_ship.sh
