# Every target sets up .venv itself (pinned by requirements.lock), so a fresh clone needs only
# python3 (3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test exercises bench grade lab lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[book,grade,test]"
	@# tokbook grade runs each kernel in a bubblewrap sandbox. Install it where we can (root on a
	@# Debian-family machine); elsewhere grading still works and says submissions were not isolated.
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq bubblewrap || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; } \
	  >/dev/null 2>&1; } || echo "note: bubblewrap (bwrap) is not installed: tokbook grade will not isolate submissions"
	touch $@

## make book: execute every chapter and build the static site into _build/html
book: $(STAMP)
	@# Jupyter Book's execution cache only notices changes to code cells. Drop it when the
	@# tokbook package or the pinned libraries changed, so no page shows stale outputs.
	@h=$$(find src -name '*.py' | sort | xargs cat requirements.lock | sha256sum | cut -c1-16); \
	if [ "$$(cat _build/.tokbook-src 2>/dev/null)" != "$$h" ]; then rm -rf _build/.jupyter_cache; fi; \
	$(BIN)/jupyter-book build . -W -n --keep-going && echo "$$h" > _build/.tokbook-src
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## make test: the whole suite (package, doctests, ruff, book build, exercises, grading); pytest -m "not slow" skips the slow part
test: $(STAMP)
	$(BIN)/python -m pytest

## make exercises: regenerate exercises/ from solutions/ with nbgrader
exercises: $(STAMP)
	$(BIN)/python -m tokbook.course.release

## make bench: measure tokbook against its peers (prints tables)
bench: $(STAMP)
	$(BIN)/python benchmarks/bpe.py
	$(BIN)/python benchmarks/grading.py
	$(BIN)/python benchmarks/sentencepiece.py
	$(BIN)/python benchmarks/packing.py
	$(BIN)/python benchmarks/attention.py

## make grade SUBMISSIONS=folder-or.zip [OUT=graded]: autograde a class (grades.csv, feedback, summary)
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder or .zip> [OUT=<folder>]"; exit 2; }
	$(BIN)/tokbook grade "$(SUBMISSIONS)" --out "$(or $(OUT),graded)"

## make lab: open the exercises in JupyterLab
lab: $(STAMP)
	$(BIN)/jupyter lab exercises

## make lock: re-resolve the newest allowed versions into requirements.lock
lock:
	rm -rf build/lock-venv
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet -e ".[book,grade,test]"
	build/lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock
	rm -rf build/lock-venv

clean:
	rm -rf _build build
