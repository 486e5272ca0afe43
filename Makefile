# drgsim task runner: make dev | fmt | lint | test | bench | conformance | demo
PY ?= python3
PIP ?= $(PY) -m pip

.PHONY: dev fmt lint test bench conformance demo

## Install drgsim in editable mode with the test tools (builds the extension in release).
dev:
	$(PIP) install --quiet -e ".[test]"

## Format Rust and Python code.
fmt:
	cargo fmt --all
	$(PY) -m ruff format python tests benches
	$(PY) -m ruff check --fix python tests benches

## Check formatting and lints (warnings are errors).
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --release -- -D warnings
	$(PY) -m ruff check python tests benches
	$(PY) -m ruff format --check python tests benches

## Install the test tools, then run every check and test: lints, Rust tests, pytest.
test: dev lint
	cargo test -p drgsim-core --release
	$(PY) -m pytest -q

## Benchmarks (criterion for the core, pytest-benchmark for the Python API).
bench: dev
	cargo bench -p drgsim-core
	$(PY) -m pytest benches -m benchmark --benchmark-only -p no:doctest

## Regenerate tests/conformance/README.md from ../shared/reference.
conformance: dev
	$(PY) tests/conformance/conformance.py

demo:
	$(PIP) install --quiet . && drgsim demo
