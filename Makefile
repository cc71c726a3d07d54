# abng: the two set-up commands are `make run` and `make test` (as root on Debian 12/13).
# Each installs what it needs: Debian packages, a virtual environment, the locked dependencies.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.stamp-deps
APTSTAMP := .state/.stamp-apt

# Debian packages: runtime (iproute2, nftables) and the real peers the tests drive.
APT_PACKAGES := iproute2 nftables iputils-ping jq curl ca-certificates \
  freeradius freeradius-utils isc-dhcp-client busybox udhcpc dnsmasq pppoe iperf3 \
  frr snmp tcpdump psmisc procps

.PHONY: run test lint typecheck unit deps apt venv clean bench

run: deps
	$(VENV)/bin/abng-lab up

test: deps lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check abng tests bench
	$(VENV)/bin/ruff format --check abng tests bench || true

typecheck: deps
	$(VENV)/bin/mypy

deps: apt venv

apt: $(APTSTAMP)
$(APTSTAMP):
	@if [ "$$(id -u)" != "0" ]; then echo "make: run as root (Debian packages and network namespaces)"; exit 1; fi
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(APT_PACKAGES)
	mkdir -p $(dir $@) && touch $@

venv: $(STAMP)
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

bench: deps
	@echo "benchmarks are run one by one: see docs/benchmarks.md"

clean:
	rm -rf $(VENV) .state .mypy_cache .ruff_cache .pytest_cache
