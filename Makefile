# Two commands matter: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO := fixtures/api-latency-unindexed-query
# llama.cpp's default "native" build emits every instruction the build CPU
# advertises; on this class of machine AMX is advertised but traps (SIGILL).
# A portable AVX2 build runs everywhere we deploy and is barely slower.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

.PHONY: setup demo test test-fast lint typecheck bench eval clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q -e '.[dev,local]'
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/mermaid --no-audit --no-fund --loglevel=error; else echo "npm not found: Mermaid syntax tests will be skipped"; fi
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/draft-incident --from-logs $(DEMO) --llm auto \
		--approve-reflexion --approver demo --out-dir out/demo --force \
		--json-out out/demo/report.json

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check pipeline tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint examples/workflows/*.yml

bench: setup
	$(PY) bench/run.py
	$(PY) bench/memory_bench.py
	$(PY) bench/local_bench.py

eval: setup
	$(PY) bench/eval.py
	$(PY) bench/real_eval.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
