# The two commands of the README. Both set up .venv first (once; later runs are quick).
.PHONY: setup demo test lint

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/agentgym pipeline

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check .
