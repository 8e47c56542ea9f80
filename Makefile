# cilium-ts — every entry point a person or CI uses. `make run` and `make test` set the machine up
# first (make deps), so a fresh clone on a fresh machine needs nothing else.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export CILIUM_TS_CACHE ?= $(HOME)/.cache/cilium-ts
TOOLS := $(CURDIR)/.tools/bin
# Our Node 24, kubectl and friends come first, whatever the machine's PATH has.
export PATH := $(TOOLS):$(PATH)
NODE := $(TOOLS)/node
NODE_TEST := $(NODE) --disable-warning=ExperimentalWarning --test --test-reporter=spec

.PHONY: help deps deps-apt deps-node deps-npm deps-k8s deps-hubble deps-coredns build bpf addon generate \
	check-generated typecheck \
	check lint format format-check cycles test test-unit test-integration test-datapath run bench clean

help:
	@echo "make run    set up, then boot the local lab (control plane, CRDs, samples) until Ctrl-C"
	@echo "make test   set up, then run every test (unit, integration on a real apiserver)"
	@echo "make deps   only the set-up: Debian packages, Node 24, npm packages, Kubernetes binaries,"
	@echo "            the BPF objects and the native addon"
	@echo "make bench  benchmarks (never part of make test)"
	@echo "make check  the read-only checks make test runs first: format-check, lint, cycles"
	@echo "make format rewrite the tree in prettier's style"

## --- set-up ------------------------------------------------------------------------------------
deps: deps-apt deps-node deps-npm deps-k8s deps-hubble deps-coredns build

deps-apt:
	@bash tools/setup/apt.sh

deps-node:
	@mkdir -p $(TOOLS)
	@dir=$$(bash tools/setup/node.sh | tail -n1); ln -sfn "$$dir/bin/node" $(TOOLS)/node; \
	 ln -sfn "$$dir" $(CURDIR)/.tools/node

# npm is JavaScript: with our node first on PATH it runs on Node 24. Dependencies' install scripts
# stay off; whatever we build natively has an explicit target of ours.
node_modules/.installed: package-lock.json | deps-node
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

deps-npm: node_modules/.installed

deps-k8s:
	@dir=$$(bash tools/k8s/build.sh | tail -n1); \
	 for b in etcd kube-apiserver kube-controller-manager kubectl kube-proxy; do ln -sfn "$$dir/$$b" $(TOOLS)/$$b; done

# The real hubble CLI (Cilium's, from the Go module proxy), for the wire-compatibility test of our
# observer API; the second Go tools module.
deps-hubble:
	@dir=$$(bash tools/hubble/build.sh | tail -n1); ln -sfn "$$dir/hubble" $(TOOLS)/hubble

# CoreDNS (from the Go module proxy, default plugin set): the lab's cluster DNS, answering from the
# apiserver through its kubernetes plugin.
deps-coredns:
	@dir=$$(bash tools/coredns/build.sh | tail -n1); ln -sfn "$$dir/coredns" $(TOOLS)/coredns

## --- native parts: the BPF programs (clang -target bpf) and the addon (node-gyp, nan, libbpf) ---
# The verifier is part of the build: a program this kernel refuses fails `make build` (and so
# `make test` and `make run`), with the verifier's log.
build: bpf addon
	@$(NODE) --disable-warning=ExperimentalWarning tools/verify-bpf.ts

bpf: deps-apt
	@$(MAKE) -s -C bpf

addon: deps-apt deps-npm
	@bash tools/setup/addon.sh

## --- the API ------------------------------------------------------------------------------------
generate: deps-npm
	$(NODE) tools/generate.ts

check-generated: deps-npm
	$(NODE) tools/generate.ts --check

typecheck: deps-npm
	$(NODE) node_modules/typescript/bin/tsc --noEmit -p .

## --- checks: read-only, run by make test before any test -------------------------------------------
check: format-check lint cycles

# prettier's style (.prettierrc.json); generated files and fixtures are in .prettierignore.
format-check: deps-npm
	$(NODE) node_modules/prettier/bin/prettier.cjs --check .

format: deps-npm
	$(NODE) node_modules/prettier/bin/prettier.cjs --write .

# typescript-eslint's type-aware rules (eslint.config.js); a warning fails as an error does.
lint: deps-npm
	$(NODE) node_modules/eslint/bin/eslint.js --max-warnings 0 src test tools bench

# No import cycles in src/, type-only imports included: a cycle through a type is still two modules
# that cannot be understood (or split) one without the other.
cycles: deps-npm
	$(NODE) node_modules/dpdm/lib/bin/dpdm.js --no-warning --no-tree --no-progress --exit-code circular:1 'src/**/*.ts'

## --- tests --------------------------------------------------------------------------------------
# One runner invocation for everything, so the summary at the end counts every test.
test: deps check-generated typecheck check
	$(NODE_TEST) --test-concurrency=1 'test/unit/**/*.test.ts' 'test/datapath/**/*.test.ts' \
	  'test/integration/**/*.test.ts' 'test/e2e/**/*.test.ts'

test-unit: deps-npm
	$(NODE_TEST) 'test/unit/**/*.test.ts'

test-integration: deps
	$(NODE_TEST) --test-concurrency=1 'test/integration/**/*.test.ts'

test-datapath: deps
	$(NODE_TEST) --test-concurrency=1 'test/datapath/**/*.test.ts'

## --- the main job -------------------------------------------------------------------------------
# The demo crosses nodes: two node namespaces, one agent process each (NODES=1: the machine as the node).
NODES ?= 2
run: deps
	./bin/cilium-ts lab up --nodes $(NODES)

bench: deps
	$(NODE) bench/run.ts $(BENCH)

clean:
	rm -rf .tools .lab node_modules addon/build bpf/build
