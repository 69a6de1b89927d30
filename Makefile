# Quick start: `make run` starts the proxy on embedded defaults; `make test` runs the whole suite.
.PHONY: run test test-fast bench venv

venv:
	@bash .ci/bootstrap.sh

run: venv
	.venv/bin/govproxy run $(ARGS)

test: venv
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-fast: venv
	.venv/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: venv
	.venv/bin/python bench/run_all.py
