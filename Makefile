# tgcn-serve: `make demo` sets everything up and runs the demo; `make test` runs the tests.
PY := .venv/bin/python
VERSION ?= 1.0

.PHONY: setup archives serve stop status demo test test-unit clean

setup:
	@bash scripts/setup.sh

archives: setup
	$(PY) -m scripts.archive.build_archives --version $(VERSION)

serve: archives
	$(PY) -m scripts.serve.torchserve_ctl start

stop:
	@if [ -x $(PY) ]; then $(PY) -m scripts.gateway stop; $(PY) -m scripts.serve.torchserve_ctl stop; fi

status:
	@$(PY) -m scripts.serve.torchserve_ctl status

demo: setup
	bash scripts/demo.sh

test: setup browser-setup
	$(PY) -m pytest -q tests

# The quick tier: no TorchServe, no archive builds, no video or browser (markers: pyproject.toml).
test-unit: setup web-setup
	TGCN_UNIT_TIER=1 $(PY) -m pytest -q -m "not live and not slow and not video and not browser" tests

clean: stop
	rm -rf build run run-video model_store/*.mar

# Deploying at scale (docs/deploying-at-scale.md): validate the manifests, pack the KServe layout.
.PHONY: k8s-validate kserve-layout
k8s-validate: setup
	$(PY) -m scripts.tools.k8s_validate configs/k8s/*.yaml

kserve-layout: archives
	$(PY) -m scripts.archive.kserve_pack --out build/kserve

# Video (issue 4): <variant>_video.mar on a second TorchServe started from .venv-video (MediaPipe),
# ports and max_request_size from configs/video.properties; run files in run-video/.
VIDEO_PY := .venv-video/bin/python
VIDEO_VARIANTS ?= asl100

.PHONY: video-archives serve-video stop-video

video-archives: setup
	$(PY) -m scripts.archive.build_archives --video --variants $(VIDEO_VARIANTS) --version $(VERSION)

serve-video: video-archives
	$(VIDEO_PY) -m scripts.serve.torchserve_ctl start --run-dir run-video --overlay configs/video.properties \
		--models $(addsuffix _video,$(VIDEO_VARIANTS))

stop-video:
	@if [ -x $(VIDEO_PY) ]; then $(VIDEO_PY) -m scripts.serve.torchserve_ctl stop --run-dir run-video; fi

clean: stop-video

# The long mixed soak (HTTP, gRPC and the browser gateway, valid + hostile; docs/security.md): make soak SOAK_SECONDS=60 for a short one.
SOAK_SECONDS ?= 600
.PHONY: soak
soak: archives web-setup
	$(PY) -m scripts.bench.soak --start --gateway --seconds $(SOAK_SECONDS)

# Benchmark (not a test): in-process eager / ONNX Runtime, TorchServe HTTP / gRPC, a minimal eager server;
# writes docs/benchmarks.md. About 8 minutes; run it on an otherwise idle machine for stable numbers.
.PHONY: bench
bench: setup
	$(PY) -m scripts.bench.benchmark

# Video extraction paths side by side (issue 13): Holistic vs Pose + Hands, resolution, tracking, frame
# stride; generated footage of a photograph (no signer video exists here). About 5 minutes.
.PHONY: bench-video
bench-video: setup
	$(VIDEO_PY) -m scripts.bench.video_paths

# The browser page (issue 12, docs/gateway.md): TorchServe (started if not running) and the gateway that
# serves web/ on http://127.0.0.1:8000/ (GATEWAY_PORT=...). `make stop` stops both.
.PHONY: web web-setup browser-setup
web-setup: setup
	@bash scripts/setup_web.sh

browser-setup: setup
	@bash scripts/setup_web.sh --browser

web: web-setup
	@$(PY) -m scripts.serve.torchserve_ctl status >/dev/null 2>&1 || $(MAKE) --no-print-directory serve
	@$(PY) -m scripts.gateway start

# GPU (a machine with one): the CUDA environment only when asked, then the served GPU check (about 3 min).
.PHONY: setup-gpu gpu-check
setup-gpu:
	bash scripts/setup_gpu.sh

gpu-check: setup-gpu archives
	.venv-gpu/bin/python -m scripts.tools.gpu_served

# A/B of per-model settings side by side (scripts/bench/ab.py; archives from make bench's build/bench/store).
.PHONY: bench-ab
bench-ab: setup
	$(PY) -m scripts.bench.ab --variant asl2000 --arm spin --arm nospin handler.intra_op_spinning=false
