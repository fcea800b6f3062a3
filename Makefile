# alnm-ray — set-up, demo and tests. Every target does its own set-up.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# numpy is pinned once, before anything compiled is built against it:
# antspyx 0.6 needs numpy < 2.4, and numpy >= 2.5 turns five PyRadiomics
# shape features complex.  Every compiled extension sees this one version.
NUMPY  := numpy==2.3.5
PIP    := $(BIN)/python -m pip
DEMO   ?= demo-out

.PHONY: setup demo test test-fast bench clean lint typecheck

setup: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(NUMPY)" setuptools wheel versioneer
	# PyRadiomics' sdist does not build under build isolation.
	$(PIP) install -q --no-build-isolation -c requirements/constraints.txt pyradiomics==3.0.1
	# The CPU build; an unpinned torch pulls several GB of CUDA packages.
	$(PIP) install -q -c requirements/constraints.txt torch==2.13.0
	$(PIP) install -q -c requirements/constraints.txt -e ".[dev]"
	$(BIN)/python -c "import numpy, radiomics._cmatrices, radiomics; assert numpy.__version__ == '$(NUMPY)'.split('==')[1], numpy.__version__; print('numpy', numpy.__version__, 'pyradiomics', radiomics.__version__)"
	touch $(STAMP)

demo: setup
	bash scripts/demo.sh $(DEMO)

test: setup
	bash scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: setup
	bash benchmarks/run_all.sh

typecheck: setup
	$(BIN)/python -m mypy alnm_ray

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
