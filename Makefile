# drgsim task runner: make dev | fmt | lint | test | bench | conformance | demo
PY ?= python3
PIP ?= $(PY) -m pip

.PHONY: dev system-deps fmt lint fuzz test bench bench-regroup conformance migration demo

## Install drgsim in editable mode with the test tools (builds the extension in release).
dev:
	$(PIP) install --quiet -e ".[test]"

## Format Rust and Python code.
fmt:
	cargo fmt --all
	$(PY) -m ruff format python tests benches reports
	$(PY) -m ruff check --fix python tests benches reports

## Check formatting and lints (warnings are errors).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings
	$(PY) -m ruff check python tests benches reports
	$(PY) -m ruff format --check python tests benches reports
	$(PY) -m mypy

## System packages a test uses (headless Chromium for the report screenshot), when apt is there.
system-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } || \
	echo "chromium is not installed: the report screenshot test will be skipped"

## Fuzz the core: each cargo-fuzz target (rust/drgsim-core/fuzz) for FUZZ_SECONDS, on the stable
## toolchain (no sanitizer), from the committed corpus; new inputs go to target/fuzz-corpus.
## Installs cargo-fuzz when missing; a crash fails the run; prints the executions per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := table_loader code_normaliser grouper dip
FUZZ_DIR := rust/drgsim-core/fuzz
FUZZ_WORK := $(CURDIR)/target/fuzz-corpus
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo +stable install cargo-fuzz --locked --version 0.13.1
	cd $(FUZZ_DIR) && cargo +stable fuzz build -s none -O
	@rm -f $(FUZZ_WORK)/summary.txt; fail=0; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/$$t; \
	  (cd $(FUZZ_DIR) && cargo +stable fuzz run -s none -O $$t $(FUZZ_WORK)/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1) > $(FUZZ_WORK)/$$t.log 2>&1 \
	    || { fail=1; tail -n 60 $(FUZZ_WORK)/$$t.log; }; \
	  n=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_WORK)/$$t.log); \
	  echo "fuzz $$t: $${n:-?} executions in $(FUZZ_SECONDS) s" | tee -a $(FUZZ_WORK)/summary.txt; \
	done; exit $$fail

## Install the test tools, then run every check and test: lints, Rust tests, fuzzing, pytest.
test: dev system-deps lint fuzz
	cargo test -p drgsim-core --release
	$(PY) -m pytest -q

## Benchmarks: headline figures (throughput per core, scaling, memory), pytest-benchmark,
## and criterion for the core, all on synthetic cases from the chs-drg-1.1 code lists.
BENCH_ROOT := $(CURDIR)/target/bench-tables
bench: dev
	mkdir -p $(BENCH_ROOT)
	$(PY) -m drgsim.tables.importers.opendrg ../shared/reference/chs-drg-1.1 $(BENCH_ROOT)/chs-drg-1.1 chs-drg-1.1 --overwrite > /dev/null
	DRGSIM_BENCH_ROOT=$(BENCH_ROOT) $(PY) benches/figures.py
	DRGSIM_BENCH_ROOT=$(BENCH_ROOT) $(PY) -m pytest benches -o addopts="" -p no:cacheprovider -m benchmark -q \
		--benchmark-columns=min,mean,rounds --benchmark-sort=name
	DRGSIM_BENCH_TABLES=$(BENCH_ROOT)/chs-drg-1.1 cargo bench -p drgsim-core --bench group
	$(MAKE) bench-regroup

## End-to-end regroup of a month-partitioned synthetic dataset (10M cases, then 30M for memory):
## wall time against the I/O floor, peak memory, 1 -> 2 cores, pure-Python baseline.
bench-regroup: dev
	mkdir -p $(BENCH_ROOT)
	$(PY) -m drgsim.tables.importers.opendrg ../shared/reference/chs-drg-1.1 $(BENCH_ROOT)/chs-drg-1.1 chs-drg-1.1 --overwrite > /dev/null
	DRGSIM_BENCH_ROOT=$(BENCH_ROOT) $(PY) benches/regroup.py 10000000 30000000

## Regenerate tests/conformance/README.md from ../shared/reference.
conformance: dev
	$(PY) tests/conformance/conformance.py

## Regenerate reports/chs-drg-1.1-to-2.0.md (the 1.1 -> 2.0 migration on the real cases).
migration: dev
	$(PY) reports/migration.py

demo:
	$(PIP) install --quiet . && drgsim demo
