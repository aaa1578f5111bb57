# labrnn: `make report` renders a lab report, `make test` checks everything.
# The first use creates .venv (Python 3.11) and installs the project into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help report sweep test bench bench-sweep lab clean

help:
	@echo "make report [ETA=0.1 SEQ=25 ...]   train and render reports/<run>/report.html"
	@echo "make sweep ETA=\"0.05 0.1\" SEQ=\"20 25\" one report per combination, in parallel, and a comparison"
	@echo "make test                          run the test suite (pytest, nbval)"
	@echo "make bench                         labrnn against the naive reference"
	@echo "make bench-sweep                   a parallel sweep against the same reports one after another"
	@echo "make lab                           JupyterLab on notebooks/"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labrnn needs Python >= 3.11; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labrnn)" >/dev/null
	@touch $@

# Each variable given (ETA=0.1 SEQ=25 ...) becomes the `labrnn report` flag of the same name; the others keep
# the CLI's defaults (STEPS=100000, SAMPLE_UNTIL=100000; EPOCHS overrides STEPS).
REPORT_VARS := ETA SEQ M SIGMA STEPS EPOCHS SEED DATA SAMPLE_EVERY SAMPLE_UNTIL SAMPLE_LEN BEST_LEN GRAD_M RUN_DIR FORMAT
flag_name = --$(subst _,-,$(shell echo '$(1)' | tr A-Z a-z))
report_flags = $(foreach v,$(REPORT_VARS),$(if $($(v)),$(call flag_name,$(v)) '$($(v))')) \
               $(if $(filter-out 0 no false,$(FORCE)),--force) \
               $(if $(filter-out 0 no false,$(RESUME)),--resume)

report: $(STAMP)
	@$(BIN)/labrnn report $(report_flags)

# ETA, SEQ, M, SIGMA and SEED take several space-separated values; JOBS (default: the number of cores) caps how
# many reports are made at once; every other variable is the same as for `make report`.
sweep: $(STAMP)
	@$(BIN)/labrnn sweep $(report_flags) $(if $(JOBS),--jobs '$(JOBS)')

test: $(STAMP)
	$(BIN)/python -m pytest --nbval

bench: $(STAMP)
	$(BIN)/python bench/bench.py

bench-sweep: $(STAMP)
	$(BIN)/python bench/bench_sweep.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf $(VENV) reports/*/ reports/index.html runs
