# ctrack: `make demo` runs the main job on built-in data, `make test` runs the test suite.
# Both create and reuse .venv/ in this checkout.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# This machine's disk carries these builds; pip takes them from there quickly.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: install test demo clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

demo: $(STAMP)
	$(VENV)/bin/ctrack demo

clean:
	rm -rf $(VENV) build *.egg-info
