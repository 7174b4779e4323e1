#!/usr/bin/env bash
# Build the meshguard filters, push each as an OCI Wasm image, and pin its digest (MCP-06).
#
#   istio/publish-filters.sh REGISTRY [VERSION] [DIGESTS_FILE]
#   e.g. istio/publish-filters.sh ghcr.io/example-org/meshguard 0.1.0
#
# Each image follows the Wasm OCI image spec Istio pulls (config media type
# application/vnd.module.wasm.config.v1+json, one layer application/vnd.module.wasm.content.layer.v1+wasm)
# and is pushed with `oras` (https://oras.land; log in first: `oras login ghcr.io`).
# The image's manifest digest is written to DIGESTS_FILE (default
# istio/mesh/filters/wasm-digests.env), from which kustomize fills WasmPlugin `sha256` and the
# EnvoyFilters' `remote.sha256`; commit that file with the release.
# Set ORAS_FLAGS=--plain-http for a local registry without TLS (istio/kind-e2e.sh does).
set -euo pipefail

registry="${1:?usage: $0 REGISTRY [VERSION] [DIGESTS_FILE]}"
version="${2:-0.1.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
digests="${3:-${here}/mesh/filters/wasm-digests.env}"
target="${CARGO_TARGET_DIR:-${root}/target}"
read -r -a oras_flags <<<"${ORAS_FLAGS:-}"

command -v oras >/dev/null || { echo "oras is required: https://oras.land/docs/installation" >&2; exit 1; }

(cd "${root}" && make build)

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
echo '{}' >"${work}/config.json"

{
  echo "# SHA-256 manifest digests of the published filter images (MCP-06), written by"
  echo "# istio/publish-filters.sh for ${registry} ${version}."
} >"${work}/digests.env"

for filter in prompt_guardrail output_sanitizer token_exchange audience_check pii_scrubber egress_guard tool_policy approval_gate memory_guard; do
  cp "${target}/meshguard/${filter}.wasm" "${work}/plugin.wasm"
  ref="${registry}/${filter}:${version}"
  (cd "${work}" && oras push "${oras_flags[@]}" "${ref}" \
    --config config.json:application/vnd.module.wasm.config.v1+json \
    plugin.wasm:application/vnd.module.wasm.content.layer.v1+wasm >/dev/null)
  digest="$(oras resolve "${oras_flags[@]}" "${ref}")"
  echo "${filter}=${digest#sha256:}" >>"${work}/digests.env"
  echo "pushed ${ref} ${digest}"
done
cp "${work}/digests.env" "${digests}"
echo "digests written to ${digests}"
