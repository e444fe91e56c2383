# make deploy: this machine -> MLflow on http://127.0.0.1:5005
# make test:   lint + unit tests + every Molecule scenario, against real services
SHELL := /bin/bash
VENV ?= .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Scenarios of one MLflow release run together: the later ones reuse the first
# one's builder stage from the Docker cache.
SCENARIOS ?= default gcs s3 auth postgres upgrade

.PHONY: venv deploy teardown test lint unit molecule lock lock-all lock-tools bench

$(VENV)/.installed: requirements.txt scripts/bootstrap-venv.sh
	scripts/bootstrap-venv.sh $(VENV)
	touch $@

venv: $(VENV)/.installed

deploy: venv
	ansible-playbook -i inventory/local/hosts.yml playbooks/site.yml

teardown: venv
	ansible-playbook -i inventory/local/hosts.yml playbooks/teardown.yml

test: lint unit molecule

lint: venv
	yamllint --strict .
	ansible-lint
	ruff check .
	ruff format --check .

unit: venv
	pytest tests/unit

# Every scenario runs even when one fails; the summary line says how many passed.
molecule: venv
	@passed=0; failed=0; failures=""; \
	for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s"; start=$$(date +%s); \
	  molecule reset -s $$s >/dev/null 2>&1 || true; \
	  if molecule test -s $$s; then passed=$$((passed + 1)); \
	  else failed=$$((failed + 1)); failures="$$failures $$s"; fi; \
	  echo "=== $$s took $$(( $$(date +%s) - start )) s"; \
	done; \
	docker image prune --force --filter label=io.github.mlflow-server.stage=builder >/dev/null || true; \
	[ -z "$$failures" ] || echo "failed scenarios:$$failures"; \
	echo "molecule: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

lock: venv
	python scripts/lock_mlflow.py $(VERSIONS)

lock-all: venv
	python scripts/lock_mlflow.py --all --jobs 4

lock-tools: venv
	uv pip compile requirements.in --python-version 3.11 --quiet --no-header -o requirements.txt
	sed -i '1i # Compiled from requirements.in by `make lock-tools` (uv pip compile); do not edit by hand.' requirements.txt

bench: venv
	python bench/build_size.py $(BENCH_ARGS)
