# The two commands of the quick start: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NETCONF_PORT ?= 830
REST_PORT ?= 8080
HOST ?= 127.0.0.1
DATA_DIR ?= ./var
PYTEST_ARGS ?=
# make test's parallel workers (pytest-xdist): the suite mostly waits on live servers and subprocesses, not on
# CPU: on 2 cores two workers used 1.3 cores (11.3 min of CPU in 8:55), three finish in 7:08 with the same CPU.
# A test file stays on one worker (its module-scoped server is started once); PYTEST_WORKERS=0 runs
# everything in this one process, in file order.
PYTEST_WORKERS ?= 3
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: run test bytecode test-wheel test-ha setup bench lint clean openstack-up openstack-down test-openstack lnc2-client test-conformance

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/.installed

# Bytecode of the package written now (compileall skips what is up to date): where PYTHONDONTWRITEBYTECODE is
# set (this machine's environment sets it) every server process compiled all of esc_netconf again, over a second of each
# start, and the suite starts servers by the hundred.
bytecode: $(BIN)/.installed
	$(BIN)/python -m compileall -q -j 0 esc_netconf

run: bytecode
	$(BIN)/esc-netconf serve --host $(HOST) --netconf-port $(NETCONF_PORT) --rest-port $(REST_PORT) --data-dir $(DATA_DIR)

test: bytecode
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The package as users install it: build the wheel, install it into a fresh virtualenv, serve from there
# (about a minute, mostly pip; dependencies come from the index through pip's cache).
test-wheel: $(BIN)/.installed
	$(BIN)/python -m pytest -m wheel tests/packaging $(PYTEST_ARGS)

# The high-availability tier: the store's tests on a real PostgreSQL and two servers on one database
# (Debian's postgresql package; .ci/run installs it). About a minute. Serial (no XDIST): its failover
# tests hold takeover deadlines in wall time and were not validated on parallel workers.
test-ha: bytecode
	$(BIN)/python -m pytest -m postgresql tests/unit/store tests/integration/test_ha_*.py $(PYTEST_ARGS)

# YANG modules by pyang's strict RFC 7950 checks and by libyang's yanglint (silent, or lint fails); then
# the type hints of esc_netconf/ by mypy --strict
# (configured in pyproject.toml's [tool.mypy]).
lint: $(BIN)/.installed
	$(BIN)/pyang --strict -p yang yang/*.yang yang/ietf/*.yang
	@if command -v yanglint >/dev/null; then out=$$(yanglint -p yang -p yang/ietf yang/esc.yang 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	else echo "yanglint (libyang2-tools) not installed: libyang check of yang/ skipped"; fi
	$(BIN)/mypy
	$(BIN)/ruff check esc_netconf tests bench

bench: $(BIN)/.installed
	$(BIN)/python bench/netconf_roundtrips.py

clean:
	rm -rf $(VENV) var .pytest_cache .cache

# The conformance tier: independent tools judge the server (libyang's yanglint; a libnetconf2 client, built
# once into .cache/ against Debian's libnetconf2-dev). Part of `make test`; this runs it alone.
CACHE := .cache
$(CACHE)/lnc2-client: tests/conformance/lnc2client/lnc2_client.c
	mkdir -p $(CACHE)
	$(CC) -std=gnu11 -Wall -Wextra -O2 -o $@ $< $$(pkg-config --cflags --libs libnetconf2 libyang)

lnc2-client: $(CACHE)/lnc2-client

test-conformance: bytecode
	$(BIN)/python -m pytest $(XDIST) tests/conformance $(PYTEST_ARGS)

# The functional tier against a real OpenStack Zed on 127.0.0.1 (root, Debian 12; see scripts/local-openstack/README.md).
# Serial: every test shares the one cloud (its quotas, its cleanup between tests).
OS_ROOT ?= /tmp/local-openstack
OS_CLOUD_CONFIG ?= $(OS_ROOT)/clouds.yaml

openstack-up:
	OSREAL_ROOT=$(OS_ROOT) scripts/local-openstack/up.sh

openstack-down:
	OSREAL_ROOT=$(OS_ROOT) scripts/local-openstack/down.sh --purge

$(BIN)/.openstacksdk: $(BIN)/.installed
	$(BIN)/python -m pip install -q -e '.[test,openstack]'
	touch $@

test-openstack: $(BIN)/.openstacksdk
	@config=$${OS_CLIENT_CONFIG_FILE:-$(OS_CLOUD_CONFIG)}; test -f "$$config" || \
	  { echo "no cloud at $$config: run 'make openstack-up' first (or set OS_CLIENT_CONFIG_FILE)"; exit 2; }
	OS_CLIENT_CONFIG_FILE=$${OS_CLIENT_CONFIG_FILE:-$(OS_CLOUD_CONFIG)} $(BIN)/python -m pytest -m openstack tests/functional $(PYTEST_ARGS)
