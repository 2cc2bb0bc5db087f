#!/usr/bin/env bash
# Start a kkoji farm in one directory: hub with its embedded PostgreSQL, farm CA, admin
# certificate, a koji client config, a local builder and kkoji-repo-regen. Re-running keeps all state.
#   KKOJI_STATE   state directory (default: ~/.local/share/kkoji)
#   KKOJI_LISTEN  address to serve on (default: 127.0.0.1:8443)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/ensure-deps.sh"
state="${KKOJI_STATE:-$HOME/.local/share/kkoji}"
listen="${KKOJI_LISTEN:-127.0.0.1:8443}"
cd "$root"
cargo build --release -q -p kkoji-quickstart -p kkoji-hub -p kkoji-builder -p kkoji-repo-regen
echo "Starting kkoji in $state (Ctrl-C stops it cleanly)."
echo "Then, in another shell:  $root/.venv/bin/koji -c $state/koji.conf -p kkoji hello"
exec "$root/target/release/kkoji-quickstart" --state-dir "$state" --listen "$listen" \
  --repo-regen-bin "$root/target/release/kkoji-repo-regen"
