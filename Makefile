# Two commands on a fresh Debian 12 machine (python3 with venv, pip, git):
#   make run    venv + the package, then `wcs serve` (CONFIG=file.toml optional)
#   make test   apt peers (root or sudo) + venv with test deps, ruff, mypy, pytest
# Other targets: peers (install the third-party peers), venv, lint, clean.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-m 'not peers'"`.
PYTEST_ARGS ?=
# mypy --strict runs over the product and over the typed test infrastructure.
MYPY_PATHS ?= wcs tests/peers tests/fixtures
LINT_PATHS := wcs tests conformance examples $(wildcard bench) conftest.py
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test lint peers venv venv-test clean check-python

# The venv module and its ensurepip half are separate packages on Debian (python3-venv).
check-python:
	@$(PY) -c 'import venv, ensurepip' 2>/dev/null || { \
	  if [ "$$(command -v $(PY))" = /usr/bin/python3 ] && command -v apt-get >/dev/null; then \
	    echo "make: $(PY) has no working venv module; installing python3-venv"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv; \
	  else \
	    echo "make: $(PY) has no working venv/ensurepip module (Debian: apt-get install python3-venv)" >&2; exit 1; \
	  fi; }

# Stamps: rebuilt when pyproject.toml changes; `run` needs the package and uvloop (the loop the
# load figures were measured on: bench/RESULTS.md), `test` the test extras.
$(VENV)/.stamp-run: pyproject.toml | check-python
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[fast]'
	touch $@

$(VENV)/.stamp-test: pyproject.toml | check-python
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.stamp-run

venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

run: venv
	$(BIN)/wcs serve $(if $(CONFIG),--config $(CONFIG))

peers:
	tests/peers/install-peers.sh
	tests/peers/install-npm.sh

lint: venv-test
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy $(MYPY_PATHS)

# Peers first: the suite starts real Kamailio/baresip/nginx-rtmp, and a missing one
# is a test failure, not a skip. ruff and mypy failures fail the target too, but pytest
# still runs so one CI log shows everything.
test: peers venv-test
	@rc=0; \
	echo "== ruff check $(LINT_PATHS)"; $(BIN)/ruff check $(LINT_PATHS) || rc=1; \
	echo "== ruff format --check"; $(BIN)/ruff format --check -q $(LINT_PATHS) || rc=1; \
	echo "== mypy $(MYPY_PATHS)"; $(BIN)/mypy $(MYPY_PATHS) || rc=1; \
	echo "== pytest tests conformance"; \
	$(BIN)/python -m pytest -q -rfE $(PYTEST_ARGS) tests conformance || rc=$$?; \
	[ $$rc -eq 0 ] || echo "make test: FAILED (exit $$rc)" >&2; \
	exit $$rc

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Fuzz/soak (issue 18): 10^5 mutated SIP messages, REST requests and media datagrams at a live
# call and viewer, ~7 min (SOAK_ARGS=--quick: 10^3 of each, what the test suite runs).
SOAK_ARGS ?=
.PHONY: soak
soak: venv-test
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# Every load figure into bench/RESULTS.md, one run (~115 min on 2 cores): the issue-8 five
# figures beside Janus (bench.run, ~6 min; BENCH_ARGS=--quick: ~2 min), then issue 17's
# saturation runs: viewers at one core with 0/1/2 media workers and wcs vs Janus per N at
# the same 1.5 Mbit/s stream, SRTP suite and client, idle cost, memory per viewer
# (bench.saturation, ~45 min; SAT_ARGS), and A+V calls at one core through Kamailio and
# direct (bench.calls_saturation, ~20 min; CALLS_ARGS), and the idle cost of one live stream
# against Janus with the share of the call's silence (bench.idle_cost, ~17 min; IDLE_ARGS),
# and the floor under CPU per forwarded packet: C and minimal Python senders, and wcs's own
# per-viewer code, fanning the same stream out (bench.send_floor, ~18 min, needs gcc;
# FLOOR_ARGS). Installs Janus (apt), uvloop and py-spy (venv) itself. The parts alone:
# bench-load, bench-saturation, bench-calls, bench-idle, bench-floor.
BENCH_ARGS ?=
SAT_ARGS ?=
CALLS_ARGS ?=
IDLE_ARGS ?=
FLOOR_ARGS ?=
BENCH_ENV = PATH="$(abspath $(BIN)):$$PATH"
.PHONY: bench bench-tools bench-load bench-saturation bench-calls bench-idle bench-floor
bench: bench-load bench-saturation bench-calls bench-idle bench-floor

bench-tools: peers venv-test
	tests/peers/janus-install.sh
	$(BIN)/pip install -q uvloop py-spy

bench-load: bench-tools
	$(BENCH_ENV) $(BIN)/python -m bench.run $(BENCH_ARGS)

bench-saturation: bench-tools
	$(BENCH_ENV) $(BIN)/python -m bench.saturation $(SAT_ARGS)

bench-calls: bench-tools
	$(BENCH_ENV) $(BIN)/python -m bench.calls_saturation $(CALLS_ARGS)

bench-idle: bench-tools
	$(BENCH_ENV) $(BIN)/python -m bench.idle_cost $(IDLE_ARGS)

bench-floor: bench-tools
	$(BENCH_ENV) $(BIN)/python -m bench.send_floor $(FLOOR_ARGS)
