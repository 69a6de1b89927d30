"""Fixtures every test folder may use (see tests/stack.py)."""

pytest_plugins = ["tests.stack"]
