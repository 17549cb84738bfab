# Two commands on a fresh machine: `make demo` (install + geometry optimisation with the
# shipped functional) and `make test` (install test dependencies + default test suite).
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# The CPU build of torch comes first: an unpinned torch requirement would pull a CUDA build.
TORCH = torch==2.13.0

.PHONY: install install-test demo test test-slow lint bench

install:
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e .

install-test: install
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q -e plugins/nnxc-b88 -e plugins/nnxc-boundx

demo: install
	$(PYTHON) examples/optimize_geometry.py

test: install-test
	$(PYTHON) -m pytest -q

test-slow: install-test
	$(PYTHON) -m pytest -q -m slow

lint: install-test
	$(PYTHON) -m ruff check src tests plugins

bench: install
	$(PYTHON) benchmarks/speed_vs_pyscf.py
