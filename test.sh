#!/usr/bin/env bash
# The one test command (README.md): formatting, lints, and the whole suite on
# both readiness backends, as CI runs it.
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests, epoll backend"
WAITER_BACKEND=epoll cargo nextest run --workspace --no-fail-fast
echo "== tests, poll(2) backend"
WAITER_BACKEND=poll cargo nextest run --workspace --no-fail-fast
echo "== doc tests"
cargo test --workspace --doc
