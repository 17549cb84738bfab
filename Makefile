# Two commands on a fresh machine: `make demo` (install + geometry optimisation with the
# shipped functional) and `make test` (install test dependencies + default test suite).
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# The CPU build of torch comes first: an unpinned torch requirement would pull a CUDA build.
TORCH = torch==2.13.0

.PHONY: install install-test demo test test-slow lint bench docs

install:
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e .

install-test: install
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q -e plugins/nnxc-b88 -e plugins/nnxc-boundx

demo: install
	$(PYTHON) examples/optimize_geometry.py

# The default suite takes about 5 minutes on 2 cores (plus the install on a fresh machine):
# pytest shows a progress bar and, at the end, the ten slowest tests; then the documentation
# is built strictly (a broken link, anchor or generated table fails), about 30 seconds.
test: install-test
	@echo "make test: default test suite (about 5 minutes on 2 cores), then the docs build (about 30 s)"
	$(PYTHON) -m pytest -o console_output_style=progress --durations=10
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --quiet

test-slow: install-test
	$(PYTHON) -m pytest -q -m slow

lint: install-test
	$(PYTHON) -m ruff check src tests plugins benchmarks

docs: install-test
	$(PYTHON) -m mkdocs serve

bench: install
	$(PYTHON) benchmarks/speed_vs_pyscf.py
