#!/usr/bin/env bash
# Renders every overlay of deploy/k8s to .local/k8s-rendered/<overlay>.yaml (to read or diff),
# then runs the manifest checks of tests/k8s: the same ones `make test` runs. No cluster needed.
#   scripts/k8s-validate.sh [pytest args]      PYTEST=... to use another pytest
set -euo pipefail
cd "$(dirname "$0")/.."

command -v kubectl >/dev/null || { echo "kubectl is required (kubectl kustomize)" >&2; exit 1; }
out=.local/k8s-rendered
mkdir -p "$out"
for overlay in deploy/k8s/overlays/*/; do
  name=$(basename "$overlay")
  kubectl kustomize "$overlay" >"$out/$name.yaml"
  echo "$overlay -> $out/$name.yaml ($(grep -c '^kind:' "$out/$name.yaml") resources)"
done
exec "${PYTEST:-.venv/bin/pytest}" tests/k8s -q "$@"
