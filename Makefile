# runtime-scheduler: every entry point a person or CI uses.
#   make demo   runs a full plan/start/status/stop/status cycle against the embedded local AWS (moto)
#   make test   runs every test (Rust, Terraform, checkov, the local-AWS end-to-end cycle)
# Both install what they need themselves (.venv from .ci/requirements.txt).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Every build names the host's target triple, as cargo-lambda does: the tests, the demo, the
# artifact check and `cargo lambda watch` then share one compile of the AWS SDK crates.
export CARGO_BUILD_TARGET ?= $(shell rustc -vV | sed -n 's/^host: //p')

.PHONY: help venv test test-rust test-terraform demo fmt lint build-lambda clean bench

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

venv: $(VENV)/.installed ## Create .venv with moto, checkov, cargo-lambda and zig

$(VENV)/.installed: .ci/requirements.txt .ci/requirements-release.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r .ci/requirements.txt
	touch $@

# Only boto3: what the release targets need (deploy jobs skip moto, checkov, cargo-lambda, zig).
venv-release: $(VENV)/.release-installed
$(VENV)/.release-installed: .ci/requirements-release.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r .ci/requirements-release.txt
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

# ---------------------------------------------------------------------------------------------
# Infrastructure (terraform-base, terraform-runtime). Owned by the Terraform work (issue 3).
#
#   ENV=demo                    environment; reads terraform-<root>/env/$(ENV).tfvars if present
#   TF_STATE_BUCKET=<bucket>    S3 bucket of the Terraform state (make infra-backend-bucket creates it)
#   TF_STATE_NONCURRENT_DAYS=90 days make infra-backend-bucket keeps old versions of the state
#   AWS_REGION=us-east-1
# Real AWS, with the usual AWS_PROFILE / credentials. Locally, `make test-terraform` runs the same
# roots against moto (.ci/lib/terraform-e2e.sh).
# ---------------------------------------------------------------------------------------------
ENV ?= demo
AWS_REGION ?= us-east-1
TF_STATE_BUCKET ?=
TF_STATE_NONCURRENT_DAYS ?= 90
TF_BASE := terraform-base
TF_RUNTIME := terraform-runtime
tf_var_file = $(if $(wildcard $(1)/env/$(ENV).tfvars),-var-file=env/$(ENV).tfvars,)
tf_backend = -backend-config=bucket=$(TF_STATE_BUCKET) -backend-config=key=$(ENV)/$(1).tfstate -backend-config=region=$(AWS_REGION)
# Synchronous invoke (a stop waits for NAT gateways to be deleted, minutes). The CLI prints
# StatusCode and, when the function failed, FunctionError; the response body follows. A failed
# invocation fails the target, so a destroy never follows a teardown that did not finish.
define scheduler_invoke
	@if ! command -v aws >/dev/null; then \
	  echo "No aws CLI: invoke the function yourself, e.g. from the Lambda console, with"; \
	  echo '  {"action":"$(1)","reason":"make infra","trigger":"manual","environment":"$(ENV)"}'; \
	  exit 0; fi; \
	fn="$$(terraform -chdir=$(TF_RUNTIME) output -raw scheduler_function_name)"; \
	fmt=""; aws --version 2>&1 | grep -q '^aws-cli/2' && fmt="--cli-binary-format raw-in-base64-out"; \
	echo "invoking $$fn: $(1)"; \
	meta="$$(aws lambda invoke --region $(AWS_REGION) --function-name "$$fn" $$fmt --cli-read-timeout 900 \
	  --payload '{"action":"$(1)","reason":"make infra-runtime","trigger":"manual","environment":"$(ENV)"}' \
	  .tmp/scheduler-$(1).json)" || exit 1; \
	echo "$$meta"; cat .tmp/scheduler-$(1).json; echo; \
	if printf '%s' "$$meta" | grep -q FunctionError; then \
	  echo "the scheduler's $(1) failed (response above, in .tmp/scheduler-$(1).json): stopping here" >&2; exit 1; fi
endef

.PHONY: infra-runtime-plan infra-runtime-apply
.PHONY: infra-check-env infra-backend-bucket infra-base-up infra-runtime-up infra-runtime-down infra-runtime-destroy infra-base-destroy infra-plan test-terraform-checks test-terraform-e2e

infra-check-env:
	@test -n "$(TF_STATE_BUCKET)" || { echo "Set TF_STATE_BUCKET (the Terraform state bucket; make infra-backend-bucket creates one)"; exit 1; }
	@mkdir -p .tmp

infra-backend-bucket: infra-check-env ## Create the Terraform state bucket once (versioned, old versions kept TF_STATE_NONCURRENT_DAYS, encrypted, private)
	aws s3api create-bucket --region $(AWS_REGION) --bucket $(TF_STATE_BUCKET) \
	  $(if $(filter us-east-1,$(AWS_REGION)),,--create-bucket-configuration LocationConstraint=$(AWS_REGION))
	aws s3api put-bucket-versioning --bucket $(TF_STATE_BUCKET) --versioning-configuration Status=Enabled
	aws s3api put-bucket-encryption --bucket $(TF_STATE_BUCKET) \
	  --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"},"BucketKeyEnabled":true}]}'
	aws s3api put-public-access-block --bucket $(TF_STATE_BUCKET) \
	  --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
	aws s3api put-bucket-lifecycle-configuration --bucket $(TF_STATE_BUCKET) --lifecycle-configuration \
	  '{"Rules":[{"ID":"expire-old-state-versions","Status":"Enabled","Filter":{},"NoncurrentVersionExpiration":{"NoncurrentDays":$(TF_STATE_NONCURRENT_DAYS)},"AbortIncompleteMultipartUpload":{"DaysAfterInitiation":1}}]}'

infra-base-up: infra-check-env ## Apply terraform-base (VPC, certificate, ECR, state bucket, ...)
	terraform -chdir=$(TF_BASE) init -input=false $(call tf_backend,terraform-base)
	terraform -chdir=$(TF_BASE) apply -var region=$(AWS_REGION) -var environment=$(ENV) $(call tf_var_file,$(TF_BASE))

infra-runtime-up: infra-check-env ## Apply terraform-runtime, then invoke start
	test -f target/lambda/runtime-scheduler/bootstrap.zip || $(MAKE) build-lambda
	terraform -chdir=$(TF_RUNTIME) init -input=false $(call tf_backend,terraform-runtime)
	terraform -chdir=$(TF_RUNTIME) apply -var region=$(AWS_REGION) -var environment=$(ENV) \
	  -var base_state_bucket=$(TF_STATE_BUCKET) $(call tf_var_file,$(TF_RUNTIME))
	$(call scheduler_invoke,start)

# Non-interactive plan/apply for .github/workflows/deploy.yml. PLAN_GUARD (on in CI) refuses a
# plan that changes IAM: the deploy role cannot, by design (.ci/lib/plan_guard.py).
PLAN_GUARD ?= $(CI)
RUNTIME_PLAN := $(CURDIR)/.tmp/terraform-runtime.tfplan

infra-runtime-plan: infra-check-env ## Plan terraform-runtime into .tmp/terraform-runtime.tfplan (CI: no IAM changes)
	test -f target/lambda/runtime-scheduler/bootstrap.zip || $(MAKE) build-lambda
	terraform -chdir=$(TF_RUNTIME) init -input=false $(call tf_backend,terraform-runtime)
	terraform -chdir=$(TF_RUNTIME) plan -input=false -out=$(RUNTIME_PLAN) -var region=$(AWS_REGION) -var environment=$(ENV) \
	  -var base_state_bucket=$(TF_STATE_BUCKET) $(call tf_var_file,$(TF_RUNTIME))
	terraform -chdir=$(TF_RUNTIME) show -json $(RUNTIME_PLAN) >.tmp/terraform-runtime.plan.json
	$(if $(filter true 1,$(PLAN_GUARD)),python3 .ci/lib/plan_guard.py .tmp/terraform-runtime.plan.json,@echo "PLAN_GUARD off: IAM changes allowed")

infra-runtime-apply: infra-check-env ## Apply the plan saved by infra-runtime-plan
	terraform -chdir=$(TF_RUNTIME) apply -input=false $(RUNTIME_PLAN)

infra-runtime-down: infra-check-env ## Invoke stop (the tier sleeps; Terraform's resources stay)
	terraform -chdir=$(TF_RUNTIME) init -input=false $(call tf_backend,terraform-runtime) >/dev/null
	$(call scheduler_invoke,stop)

infra-runtime-destroy: infra-check-env ## Invoke teardown (everything the scheduler owns goes), destroy terraform-runtime
	terraform -chdir=$(TF_RUNTIME) init -input=false $(call tf_backend,terraform-runtime) >/dev/null
	$(call scheduler_invoke,teardown)
	terraform -chdir=$(TF_RUNTIME) destroy -var region=$(AWS_REGION) -var environment=$(ENV) \
	  -var base_state_bucket=$(TF_STATE_BUCKET) $(call tf_var_file,$(TF_RUNTIME))

infra-base-destroy: infra-check-env ## Destroy terraform-base (after infra-runtime-destroy)
	terraform -chdir=$(TF_BASE) init -input=false $(call tf_backend,terraform-base) >/dev/null
	terraform -chdir=$(TF_BASE) destroy -var region=$(AWS_REGION) -var environment=$(ENV) $(call tf_var_file,$(TF_BASE))

infra-plan: infra-check-env ## Plan both roots
	terraform -chdir=$(TF_BASE) init -input=false $(call tf_backend,terraform-base) >/dev/null
	terraform -chdir=$(TF_BASE) plan -input=false -var region=$(AWS_REGION) -var environment=$(ENV) $(call tf_var_file,$(TF_BASE))
	terraform -chdir=$(TF_RUNTIME) init -input=false $(call tf_backend,terraform-runtime) >/dev/null
	terraform -chdir=$(TF_RUNTIME) plan -input=false -var region=$(AWS_REGION) -var environment=$(ENV) \
	  -var base_state_bucket=$(TF_STATE_BUCKET) $(call tf_var_file,$(TF_RUNTIME))

test-terraform: test-terraform-checks test-terraform-e2e ## fmt, validate, terraform test, checkov; then apply/cycle/destroy on moto

test-terraform-checks: venv ## fmt, offline init + validate, terraform test, checkov (both roots)
	.ci/lib/terraform-checks.sh

test-terraform-e2e: venv ## Both roots applied to moto, the scheduler cycles the tier, destroy leaves nothing
	.ci/lib/terraform-e2e.sh

bench: venv ## Benchmarks: calls and wall time on moto, cold init and peak RSS of the release bootstraps; writes docs/performance.md
	.ci/lib/bench.sh

# ---------------------------------------------------------------------------------------------
# Releases: ship a service revision in either phase of the tier (issue 10). One implementation,
# .ci/lib/release.py; the GitHub workflows, people and the moto end-to-end run all use these.
#
#   ENV=dev                        environment (the scheduler refuses a payload for another one)
#   SERVICE=backend                service name as in the runtime spec
#   IMAGE=<repo>:<tag>             deploy: register a revision of the family's latest ACTIVE one with this image
#   TASK_DEFINITION=<family:rev|ARN|rev>   deploy: an existing ACTIVE revision instead
#   CONTAINER=<name>               container that gets IMAGE (default: the load-balanced one, or the only one)
#   REVISION=<rev|family:rev|ARN>  rollback target (default: the ACTIVE revision before the one in effect)
#   REASON="why"                   kept in the scheduler's history (rollback: "rollback by <actor>: <why>")
#   WAIT_TIMEOUT=900               seconds to wait for a rolling deployment (0: do not wait)
#   TAG=<commit sha> CONTEXT=. DOCKERFILE=Dockerfile   push-image: build and push SERVICE's image
#   SCHEDULER_INVOKE=lambda:<function> | local:<binary>   how to reach the scheduler; default
#                                  lambda:$(SCHEDULER_FUNCTION_NAME) when that is set
# Variables are exported, not spliced into the recipe: a REASON with quotes cannot break the shell.
# ---------------------------------------------------------------------------------------------
SCHEDULER_FUNCTION_NAME ?=
SCHEDULER_INVOKE ?= $(if $(SCHEDULER_FUNCTION_NAME),lambda:$(SCHEDULER_FUNCTION_NAME),)
WAIT_TIMEOUT ?= 900
export ENV SERVICE IMAGE TASK_DEFINITION CONTAINER REVISION REASON WAIT_TIMEOUT TAG CONTEXT DOCKERFILE SCHEDULER_INVOKE
RELEASE := $(VENV)/bin/python .ci/lib/release.py

.PHONY: venv-release deploy rollback release-status push-image

deploy: venv-release ## Deploy SERVICE with IMAGE or TASK_DEFINITION: rolls if the tier runs, parks if it sleeps
	$(RELEASE) deploy

rollback: venv-release ## Roll SERVICE back to REVISION (default: the previous ACTIVE one), with REASON
	$(RELEASE) rollback

release-status: venv-release ## The scheduler's status: phase, each service's revision now and at the next start
	$(RELEASE) status

push-image: venv-release ## docker build + push SERVICE's image tagged TAG (skipped if the tag exists)
	$(RELEASE) push-image
