# video-knet: the two Quick-start commands (`make demo`, `make test`) create `.venv/` and install
# what they need on first use; later runs only re-install when requirements.txt or setup.py change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2

.PHONY: demo test install clean-demo

$(STAMP): requirements.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

install: $(STAMP)

## The main job on the embedded synthetic KITTI-STEP data (CPU, minutes).
demo: $(STAMP)
	$(PY) tools/demo.py

## The test suite (CPU).
test: $(STAMP)
	$(PY) -m pytest tests

clean-demo:
	rm -rf outputs/demo
