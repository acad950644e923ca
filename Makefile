# Two commands for a fresh clone: `make demo` (install, then run the main job on the embedded S3)
# and `make test` (install, then run the whole test suite). `make ui` opens the Dagster UI. Everything installs into .venv from
# requirements.lock (pinned, hash-checked); nothing is installed outside the project.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup demo ui test test-fast lock clean bench-setup bench postgresql

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --python $(BIN)/python --require-hashes requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

demo: setup
	$(BIN)/lake run

ui: setup
	$(BIN)/lake ui

# The UI test drives Debian's Chromium through Playwright (no browser can be downloaded here);
# installed with apt when missing, which needs root (as in CI). CHROMIUM=/path uses another one.
CHROMIUM ?= /usr/bin/chromium

test: setup $(CHROMIUM) postgresql
	LAKE_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# The fast tier, for a developer's loop: the tests not marked `integration` (moto, pure logic, the definitions);
# no SeaweedFS, no browser, no PostgreSQL, no daemon. `make test` stays the CI command.
test-fast: setup
	$(BIN)/pytest -m "not integration" -q

/usr/bin/chromium:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

# The deployment test (lake_assets_tests/deploy) starts a throwaway PostgreSQL on loopback from Debian's
# server binaries; installed with apt when missing, as Chromium is. Its own cluster only: the package's
# default cluster is not used.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# Benchmarks, on demand only: the peers they compare against are pinned in bench/requirements.lock.
bench-setup: setup
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r bench/requirements.lock

bench: bench-setup
	$(BIN)/python bench/transfer.py --runs 5 --out bench/results/transfer.json
	$(BIN)/python bench/report.py bench/results/transfer.json
	$(BIN)/python bench/existence.py --runs 5
	$(BIN)/python bench/sensor_tick.py --years 10
	$(BIN)/python bench/large_download.py --runs 5
	$(BIN)/python bench/backfill.py --runs 5
	$(BIN)/python bench/large_partitions.py --runs 3
	$(BIN)/python bench/multipart_race.py --trials 40 --burners 2
	$(BIN)/python bench/transfer.py --runs 5 --workloads multipart --clients ours,ours-unclaimed --out bench/results/claims.json

# Re-resolve the pinned dependencies after editing pyproject.toml.
lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev -c deploy/requirements.lock --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes --quiet -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench -c requirements.lock --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes --quiet -o bench/requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra deploy -c requirements.lock --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --generate-hashes --quiet -o deploy/requirements.lock

clean:
	-test -x $(BIN)/lake && $(BIN)/lake s3 down
	rm -rf $(VENV) .lake
