# labrnn: `make report` renders a lab report, `make test` checks everything.
# The first use makes .venv with the newest Python 3.11 to 3.13 it finds (tools/venv.sh);
# PYTHON=python3.12 chooses one, VENV=.venv-3.12 another directory.

VENV ?= .venv

# A value from the command line reaches the shell as one single-quoted word, byte for byte:
# $(value) keeps make from expanding a `$` in it, and each ' becomes '\''.
quote = $(call one_line,$(1))'$(subst ','\'',$(value $(1)))'
BIN := $(call quote,VENV)/bin

# Every variable given on make's command line (ETA=0.1 SEQ=25 ...) but PYTHON and VENV goes to labrnn
# as NAME=VALUE; labrnn turns it into the flag of the same name (ETA -> --eta) or refuses it in one line.
# A newline would cut the recipe in two, so a value holding one is refused here.
given = $(foreach v,$(given_names),$(call one_line,$(v))$(call quote_pair,$(v)))
given_names = $(strip $(foreach v,$(filter-out PYTHON VENV,$(.VARIABLES)),\
                $(if $(filter command line,$(origin $(v))),$(v))))
quote_pair = '$(subst ','\'',$(1))=$(subst ','\'',$(value $(1)))'
one_line = $(if $(findstring $(newline),$(value $(1))),$(error $(1) holds a newline; give it on one line))
define newline


endef

.DEFAULT_GOAL := help
.PHONY: help venv report sweep compare test test-fast bench bench-sweep lab clean

help:
	@echo "make report [ETA=0.1 SEQ=25 ...]   train and render reports/<run>/report.html"
	@echo "make sweep ETA=\"0.05 0.1\" SEQ=\"20 25\" one report per combination, in parallel, and a comparison"
	@echo "make compare DIRS=\"a 'b c'\"        the comparison page of report directories made anywhere"
	@echo "make test                          run the test suite (pytest, nbval), one worker per core"
	@echo "make test-fast                     the fast unit tests only"
	@echo "make bench                         labrnn against a classic loop and the naive reference; what grading adds per step"
	@echo "make bench-sweep                   a parallel sweep against the same reports one after another"
	@echo "make lab [LAB_ARGS=\"...\"]          JupyterLab on the project: notebooks/ and reports/; LAB_ARGS are"
	@echo "                                   jupyter lab's options, split at spaces, each one argument, never run:"
	@echo "                                   LAB_ARGS=\"--port 8899 --no-browser --IdentityProvider.token=SECRET\""

venv:
	@sh tools/venv.sh $(call quote,VENV) $(call quote,PYTHON)

report: venv
	@$(BIN)/labrnn report --from-make $(given)

sweep: venv
	@$(BIN)/labrnn sweep --from-make $(given)

compare: venv
	@$(BIN)/labrnn compare --from-make $(given)

# One pytest-xdist worker per core; --dist loadscope keeps a module (and a notebook's cells, in order) on one
# worker, so module fixtures are made once (tests/conftest.py fills numba's cache before the workers start).
# Tests marked serial bound wall time: they run afterwards, alone.
# Exit status 5 (no test selected) is not a failure there. The fast unit tests have no costly module fixtures:
# they spread test by test (loadgroup: but those marked xdist_group together).
test: venv
	$(BIN)/python -m pytest --nbval -n auto --dist loadscope -m 'not serial'; parallel=$$?; \
	$(BIN)/python -m pytest --nbval -p no:xdist -m serial; serial=$$?; \
	[ $$parallel -eq 0 ] && { [ $$serial -eq 0 ] || [ $$serial -eq 5 ]; }

test-fast: venv
	$(BIN)/python -m pytest -m fast -n auto --dist loadgroup

bench: venv
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/bench_grading.py

bench-sweep: venv
	$(BIN)/python bench/bench_sweep.py

# JupyterLab rooted at the project, so that notebooks/ and reports/ are both in reach.  LAB_ARGS (a port, a token,
# --no-browser) is split at spaces by make, not the shell: each word reaches jupyter as one single-quoted argument.
lab_args = $(call one_line,LAB_ARGS)$(foreach w,$(value LAB_ARGS),'$(subst ','\'',$(w))')

lab: venv
	$(BIN)/jupyter lab --ServerApp.root_dir=$(call quote,CURDIR) --MappingKernelManager.default_kernel_name=labrnn \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(lab_args)

clean:
	rm -rf $(call quote,VENV) reports/*/ reports/index.html runs
