# video-knet: the two Quick-start commands (`make demo`, `make test`) create `.venv/` and install
# what they need on first use (requirements.txt, the lint tools of requirements-dev.txt and this
# package); later runs only re-install when one of requirements*.txt or setup.py changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: demo test lint install clean-demo

$(STAMP): requirements.txt requirements-dev.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

## The main job on the embedded synthetic KITTI-STEP data (CPU, minutes).
demo: $(STAMP)
	$(PY) tools/demo.py

## The test suite (CPU).
test: $(STAMP)
	$(PY) -m pytest tests

## Static checks (configured in pyproject.toml): ruff on every Python file, mypy on the packages.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

clean-demo:
	rm -rf outputs/demo
