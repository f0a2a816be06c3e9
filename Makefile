# berth: `make help` lists the targets.
.PHONY: help build release demo test test-unit lint bench bench-pull clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

build: ## Debug build of the workspace
	cargo build --workspace

release: ## Release build (what the benchmarks use)
	cargo build --release --workspace

demo: ## Install dependencies, build, and run a busybox container (root)
	bash scripts/demo.sh

test: ## All tests: unit tests and root integration tests against berth and runc (root)
	cargo build --workspace --tests
	cargo nextest run --workspace --no-fail-fast

test-unit: ## Unit tests only (no root needed)
	cargo nextest run --workspace --lib --bins

lint: ## clippy with warnings as errors, and rustfmt check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo fmt --all --check

bench: release ## Benchmarks against the peers (runc): prints ratios (root)
	target/release/berth-bench runtime --runs 200
	target/release/berth-bench stats --containers 100 --rounds 5

bench-pull: ## Image pull: berth vs docker pull, podman pull, skopeo (root; builds a ~130 MB fixture once)
	cargo build --release -p berth-bench
	target/release/berth-bench pull --runs 5

clean: ## Remove build output
	cargo clean
