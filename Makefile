# Every target bootstraps what it needs: uv (installed with pip if missing), the virtual
# environment, and the locked packages of requirements.lock. A newcomer types `make serve`
# or `make test` and nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
SYNCED := $(VENV)/.synced
# Python caches compiled bytecode (__pycache__, ignored by git) unless PYTHONDONTWRITEBYTECODE
# says not to. A machine that sets it makes every interpreter recompile every module it imports:
# about 3.5 s more per process here, and the tests start many (xdist workers, servers, worker
# processes, the CLI). The targets below cache it; the locked packages are compiled at install.
unexport PYTHONDONTWRITEBYTECODE
PACKAGES := -p dashcore -p dashcore_sql -p dashcore_memory -p dashcore_security \
            -p dashcore_redis -p dashcore_system -p dashcore_mail -p dashcore_ratelimit -p dashcore_brokers \
            -p dashcore_taskiq -p dashcore_app -p dashcore_http -p dashcore_cli -p dashcore_worker

.PHONY: help bootstrap serve test lint fmt bench migrate lock clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(SYNCED): requirements.lock pyproject.toml
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@test -x $(BIN)/python || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $@

bootstrap: $(SYNCED)  ## install uv, the venv and the locked packages

serve: $(SYNCED)  ## run the API on the embedded default (SQLite under ./var)
	$(BIN)/dashcore serve

# Tests run on one more pytest-xdist worker than there are cores: a good part of each test is
# spent waiting on PostgreSQL, Redis and the processes it starts, so a spare worker keeps the
# cores busy (2 cores: 288 s with 3 workers, 359 s with 2, 327 s with 4). Each test has its own
# schema and key prefix, so workers never collide. `make test TEST_WORKERS=0` runs them in one
# process.
TEST_WORKERS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 )))

test: $(SYNCED)  ## run the whole test suite (CI=true makes PostgreSQL/Redis mandatory)
	$(BIN)/pytest -n $(TEST_WORKERS)

lint: $(SYNCED)  ## ruff, ruff format --check, mypy --strict, import-linter
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy $(PACKAGES)
	$(BIN)/lint-imports

fmt: $(SYNCED)  ## format and auto-fix
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

bench: $(SYNCED)  ## load benchmarks (wrk), results in bench/results/; fails if a target is missed
	@$(BIN)/python -m bench; health=$$?; \
	  $(BIN)/python -m bench.identity; identity=$$?; \
	  $(BIN)/python -m bench.brokers; brokers=$$?; \
	  $(BIN)/python -m bench.portfolio; portfolio=$$?; \
	  $(BIN)/python -m bench.orders; orders=$$?; \
	  $(BIN)/python -m bench.exports; exports=$$?; \
	  $(BIN)/python -m bench.aggregation; aggregation=$$?; \
	  worst=$$(( health > identity ? health : identity )); \
	  worst=$$(( worst > brokers ? worst : brokers )); \
	  worst=$$(( worst > portfolio ? worst : portfolio )); \
	  worst=$$(( worst > orders ? worst : orders )); \
	  worst=$$(( worst > exports ? worst : exports )); \
	  exit $$(( worst > aggregation ? worst : aggregation ))

migrate: $(SYNCED)  ## upgrade the configured database to the newest schema
	$(BIN)/dashcore migrate up

lock:  ## re-resolve requirements.lock after changing dependencies in pyproject.toml
	$(UV) pip compile --quiet pyproject.toml --all-extras --universal --python-version 3.11 \
	  --generate-hashes --no-header -o requirements.lock

clean:  ## remove the venv and caches (keeps ./var)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
