# make lab   — set up .venv and open JupyterLab on the curriculum
# make test  — set up .venv and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup chromium nbstripout lab test bench serve clean

setup: $(STAMP)

# Without an NVIDIA GPU, install the CPU build of torch first so that pip does not pull a
# multi-GB CUDA build; with one, pip resolves torch>=2.4 from pyproject.toml as usual.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		echo "no NVIDIA GPU found: installing the CPU build of torch"; \
		$(BIN)/python -m pip install -q "torch==2.13.0"; \
	fi
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

# Browser tests drive the dashboards in Debian's Chromium (Playwright's own download does not
# work offline); install it when we can (root), otherwise those tests skip outside CI.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: browser tests will be skipped"; }

# JupyterLab's autosave writes outputs into the notebooks: a git filter (nbstripout, cell ids
# kept) strips them from what git stores, so a Run All never shows up as a diff. Configured in
# this clone's .git/config; .gitattributes names the notebooks it applies to.
nbstripout:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		git config filter.nbstripout.clean '"$(abspath $(BIN))/python" -m nbstripout --keep-id' && \
		git config filter.nbstripout.smudge cat && \
		git config diff.ipynb.textconv '"$(abspath $(BIN))/python" -m nbstripout -t --keep-id'; \
	fi

lab: setup nbstripout
	$(BIN)/jupyter lab --ip=127.0.0.1 notebooks/00_start_here.ipynb

# one pytest worker per CPU (pytest-xdist): the tests are single-threaded
test: setup chromium nbstripout
	$(BIN)/python -m pytest -n logical --dist worksteal

bench: setup
	$(BIN)/python benchmarks/bench_grokking.py

serve: setup
	$(BIN)/workbench serve

clean:
	rm -rf $(VENV) .pytest_cache
