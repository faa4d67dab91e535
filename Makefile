# runtime-scheduler: every entry point a person or CI uses.
#   make demo   runs a full plan/start/status/stop/status cycle against the embedded local AWS (moto)
#   make test   runs every test (Rust, Terraform, checkov, the local-AWS end-to-end cycle)
# Both install what they need themselves (.venv from .ci/requirements.txt).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv test test-rust test-terraform demo fmt lint build-lambda clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

venv: $(VENV)/.installed ## Create .venv with moto, checkov, cargo-lambda and zig

$(VENV)/.installed: .ci/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r .ci/requirements.txt
	touch $@

test: venv ## Run every test
	.ci/lib/test.sh

demo: venv ## Full cycle on the local AWS: moto, base, runtime, plan, start, status, stop, status
	.ci/lib/demo.sh

fmt: ## Format Rust and Terraform
	cargo fmt --all
	terraform fmt -recursive terraform-base terraform-runtime

build-lambda: venv ## Build the Lambda zip (target/lambda/runtime-scheduler/bootstrap.zip)
	cargo lambda build --release --output-format zip $(if $(ARM64),--arm64,)

clean:
	rm -rf target .tmp
