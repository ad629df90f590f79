# tgcn-serve: `make demo` sets everything up and runs the demo; `make test` runs the tests.
PY := .venv/bin/python
VERSION ?= 1.0

.PHONY: setup archives serve stop status demo test clean

setup:
	@bash scripts/setup.sh

archives: setup
	$(PY) -m scripts.build_archives --version $(VERSION)

serve: archives
	$(PY) -m scripts.torchserve_ctl start

stop:
	@if [ -x $(PY) ]; then $(PY) -m scripts.torchserve_ctl stop; fi

status:
	@$(PY) -m scripts.torchserve_ctl status

demo: setup
	bash scripts/demo.sh

test: setup
	$(PY) -m pytest -q tests

clean: stop
	rm -rf build run model_store/*.mar

# Benchmark (not a test): in-process eager / ONNX Runtime, TorchServe HTTP / gRPC, a minimal eager server;
# writes docs/benchmarks.md. About 8 minutes; run it on an otherwise idle machine for stable numbers.
.PHONY: bench
bench: setup
	$(PY) -m scripts.benchmark
