# Quick start: `make run` starts the proxy on embedded defaults; `make test` runs the test suite.
# `make test-slow` runs the long suites (many kill -9 cycles, …); CI runs both.
.PHONY: run test test-slow test-all bench venv

venv:
	@bash .ci/bootstrap.sh

run: venv
	.venv/bin/govproxy run $(ARGS)

test: venv
	.venv/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: venv
	.venv/bin/python -m pytest -m slow $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc  # 5: none selected

test-all: venv
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench: venv
	bench/run_all
