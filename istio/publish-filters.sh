#!/usr/bin/env bash
# Push the built meshguard filters as Wasm OCI images and write their digests (MCP-06).
#
#   istio/publish-filters.sh REGISTRY [VERSION] [DIGESTS_FILE]
#   e.g. istio/publish-filters.sh 127.0.0.1:5000/meshguard 0.1.0
#
# Needs only bash, curl, sha256sum and the modules in target/meshguard/ (`make build`; run
# with SKIP_BUILD=1 to push what is there). Each image follows the Wasm OCI image spec that
# istio-agent pulls: an OCI image manifest whose config has media type
# application/vnd.module.wasm.config.v1+json and whose one layer is the module,
# application/vnd.module.wasm.content.layer.v1+wasm. It is pushed with the OCI distribution
# API (blob upload, then manifest PUT), so the manifest digest is computed here from the
# exact bytes pushed and then checked against the registry's Docker-Content-Digest answer.
#
# REGISTRY is host[:port]/path. Plain HTTP for loopback registries (127.0.0.1, localhost,
# [::1]: a `kubectl port-forward` to the in-cluster registry, or a local test registry),
# HTTPS otherwise (REGISTRY_SCHEME overrides). REGISTRY_AUTH="user:password" adds basic auth.
# The digests go to DIGESTS_FILE (default istio/mesh/filters/wasm-digests.env), from which
# kustomize fills WasmPlugin `sha256` and the EnvoyFilters' `remote.sha256`.
set -euo pipefail

registry="${1:?usage: $0 REGISTRY [VERSION] [DIGESTS_FILE]}"
version="${2:-0.1.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
digests="${3:-${here}/mesh/filters/wasm-digests.env}"
target="${CARGO_TARGET_DIR:-${root}/target}"
filters=(prompt_guardrail output_sanitizer token_exchange audience_check pii_scrubber egress_guard tool_policy approval_gate memory_guard)

host="${registry%%/*}"
repo="${registry#*/}"
[[ "${repo}" != "${registry}" ]] || repo=""
case "${host}" in
  127.*|localhost|localhost:*|\[::1\]*) scheme="${REGISTRY_SCHEME:-http}" ;;
  *) scheme="${REGISTRY_SCHEME:-https}" ;;
esac
base="${scheme}://${host}/v2"
curl_args=(--silent --show-error --fail)
[[ -z "${REGISTRY_AUTH:-}" ]] || curl_args+=(--user "${REGISTRY_AUTH}")

[[ "${SKIP_BUILD:-0}" == 1 ]] || (cd "${root}" && make build)

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }

# Upload one blob (monolithic: POST for a session, PUT with the digest).
push_blob() {
  local name="$1" file="$2" digest location
  digest="sha256:$(sha "${file}")"
  if curl "${curl_args[@]}" -o /dev/null --head "${base}/${name}/blobs/${digest}" 2>/dev/null; then
    return 0
  fi
  location="$(curl "${curl_args[@]}" -o /dev/null -D - -X POST "${base}/${name}/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
  [[ -n "${location}" ]] || { echo "publish: no upload location from ${base}/${name}" >&2; return 1; }
  [[ "${location}" == http* ]] || location="${scheme}://${host}${location}"
  local sep='?'
  [[ "${location}" != *'?'* ]] || sep='&'
  curl "${curl_args[@]}" -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' \
    --data-binary "@${file}" "${location}${sep}digest=${digest}"
}

printf '{}' >"${work}/config.json"
{
  echo "# SHA-256 manifest digests of the published filter images (MCP-06), written by"
  echo "# istio/publish-filters.sh for ${registry} ${version}."
} >"${work}/digests.env"

for filter in "${filters[@]}"; do
  module="${target}/meshguard/${filter}.wasm"
  [[ -f "${module}" ]] || { echo "publish: ${module} is missing (make build)" >&2; exit 1; }
  name="${repo:+${repo}/}${filter}"
  push_blob "${name}" "${work}/config.json"
  push_blob "${name}" "${module}"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.module.wasm.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.module.wasm.content.layer.v1+wasm","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.title":"plugin.wasm"}}]}' \
    "$(sha "${work}/config.json")" "$(stat -c %s "${work}/config.json")" \
    "$(sha "${module}")" "$(stat -c %s "${module}")" >"${work}/manifest.json"
  digest="sha256:$(sha "${work}/manifest.json")"
  answered="$(curl "${curl_args[@]}" -o /dev/null -D - -X PUT \
    -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary "@${work}/manifest.json" "${base}/${name}/manifests/${version}" |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p')"
  if [[ -n "${answered}" && "${answered}" != "${digest}" ]]; then
    echo "publish: ${name}:${version}: registry stored ${answered}, pushed ${digest}" >&2
    exit 1
  fi
  echo "${filter}=${digest#sha256:}" >>"${work}/digests.env"
  echo "pushed ${host}/${name}:${version} ${digest}"
done
cp "${work}/digests.env" "${digests}"
echo "digests written to ${digests}"
