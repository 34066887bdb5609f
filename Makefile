# The two entry points users were promised: `make demo` and `make test`.
# Both run `setup` first, which is idempotent and works on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_BIN := /usr/lib/postgresql/15/bin
LAUNCHER_JAR := neo4j-launcher/target/neo4j-launcher.jar
# The demo's salt; a real migration brings its own secret in DATAMIG_SALT.
DEMO_SALT ?= demo-salt-not-a-secret

.PHONY: setup tools venv postgres neo4j test lint demo services-up services-down clean

setup: tools venv postgres neo4j

# What the rest needs from the system: Python's venv module, a Java 17+ JDK (Neo4j 5.26 runs on
# 17 or 21; the launcher is compiled: Maven's own dependency brings a runtime only) and Maven (fetches Neo4j's jars, builds the launcher). Installed from Debian's
# packages when missing; without root, one line naming them.
tools:
	@missing=""; \
	$(PY) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	javac -version 2>&1 | grep -qE '^javac (1[7-9]|[2-9][0-9])' || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: missing system packages:$$missing; install them as root: apt-get install$$missing" >&2; exit 1; \
	  fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# A venv made without pip (python3-venv was missing then) is made again.
venv: $(BIN)/.installed
$(BIN)/.installed: pyproject.toml constraints.txt | tools
	test -x $(BIN)/pip || { rm -rf $(VENV) && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# PostgreSQL 15 server from Debian's packages, without the distribution's default cluster:
# datamig runs its own throwaway cluster on a free loopback port.
postgres: | tools
	@if [ ! -x $(PG_BIN)/postgres ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: PostgreSQL 15 is not installed; install it as root: apt-get install postgresql-15 postgresql-client-15" >&2; exit 1; \
	  fi; \
	  mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/datamig.conf && \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql-15 postgresql-client-15; \
	fi

neo4j: $(LAUNCHER_JAR)
$(LAUNCHER_JAR): neo4j-launcher/pom.xml $(wildcard neo4j-launcher/src/main/java/datamig/*.java) | venv tools
	$(BIN)/python -c "from pathlib import Path; from datamig.services import neo4j_server as n; n.build_launcher(Path('.'))"

test: setup
	$(BIN)/pytest
	$(MAKE) lint

lint: venv
	$(BIN)/dbt parse --profiles-dir . --target lint --quiet
	$(BIN)/sqlfluff lint

services-up: setup
	$(BIN)/datamig services up

services-down:
	$(BIN)/datamig services down

demo: setup
	$(BIN)/datamig services up
	$(BIN)/datamig seed-prod --scale small
	$(BIN)/datamig seed-cert --yes  # the demo's CERT: a demo run before this one goes with it
	$(BIN)/datamig analyze-datastores
	$(BIN)/datamig select-districts
	DATAMIG_SALT=$${DATAMIG_SALT:-$(DEMO_SALT)} $(BIN)/datamig migrate --district 42 --yes

clean:
	rm -rf target dbt_packages logs
