#!/usr/bin/env bash
# Run every test of the workspace: unit, integration and end-to-end (real PostgreSQL,
# real TLS, the stock koji 1.36.1 CLI). Exits non-zero when any test fails.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/ensure-deps.sh"
cd "$root"
export KKOJI_KOJI_VENV="${KKOJI_KOJI_VENV:-$root/.venv}"
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/kkoji-test.log"
exit "${PIPESTATUS[0]}"
