#!/usr/bin/env bash
# `make render`: publish the filters and render istio/ into what a user applies.
#
#   istio/render.sh REGISTRY VERSION [OUT]        (make render REGISTRY=... VERSION=... [OUT=...])
#
# 1. Pushes the built modules to REGISTRY (istio/publish-filters.sh), or, with
#    DIGESTS=<file>, takes the digests of an earlier push.
# 2. Copies istio/ to OUT/istio with the module digests in mesh/filters/wasm-digests.env and
#    every module URL on VERSION, pulled from the in-cluster registry
#    (module-registry.meshguard-modules.svc.cluster.local:5000, istio/modules) under the same
#    repository path REGISTRY has. REGISTRY is where that registry is reachable from here,
#    normally `kubectl -n meshguard-modules port-forward svc/module-registry 5000:5000` and
#    REGISTRY=127.0.0.1:5000/meshguard.
# 3. Pins the images the manifests run that meshguard ships or needs: APPROVAL_IMAGE (the
#    approval service, default REGISTRY/approval:VERSION) and MODULE_REGISTRY_IMAGE (the
#    Distribution registry, default docker.io/library/registry:3). A reference with
#    @sha256: is used as given; a tag is resolved to its manifest digest with skopeo.
# 4. Writes OUT/kustomization.yaml and OUT/meshguard.yaml (`kubectl kustomize OUT`), refusing
#    any placeholder digest left in what it pinned. Apply with `kubectl apply -k OUT`.
set -euo pipefail

registry="${1:?usage: $0 REGISTRY VERSION [OUT]}"
version="${2:?usage: $0 REGISTRY VERSION [OUT]}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/.." && pwd)"
out="${3:-${root}/target/istio-rendered}"
kubectl="${KUBECTL:-$(command -v kubectl || echo "${root}/.tools/kubectl/bin/kubectl")}"
module_host="module-registry.meshguard-modules.svc.cluster.local:5000"
repo="${registry#*/}"
[[ "${repo}" != "${registry}" ]] || repo=""
approval_image="${APPROVAL_IMAGE:-${registry}/approval:${version}}"
registry_image="${MODULE_REGISTRY_IMAGE:-docker.io/library/registry:3}"
zero="0000000000000000000000000000000000000000000000000000000000000000"
empty="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

die() { echo "render: $*" >&2; exit 1; }

# name@sha256:digest for a reference: as given when pinned, else resolved with skopeo.
pin() {
  local ref="$1" digest
  if [[ "${ref}" == *@sha256:* ]]; then
    echo "${ref}"
    return
  fi
  command -v skopeo >/dev/null || die "${ref} is not digest-pinned and skopeo is not installed to resolve it"
  local tls=()
  case "${ref}" in 127.*|localhost*) tls=(--tls-verify=false) ;; esac
  digest="$(skopeo inspect "${tls[@]}" --raw "docker://${ref}" | sha256sum | cut -d' ' -f1)" ||
    die "cannot resolve ${ref}"
  echo "${ref%:*}@sha256:${digest}"
}

rm -rf "${out}"
mkdir -p "${out}"
cp -r "${here}" "${out}/istio"
digests="${out}/istio/mesh/filters/wasm-digests.env"
if [[ -n "${DIGESTS:-}" ]]; then
  cp "${DIGESTS}" "${digests}"
else
  "${here}/publish-filters.sh" "${registry}" "${version}" "${digests}"
fi
grep -q "${empty}" "${digests}" && die "${digests} still holds the empty-string digest"

# Module URLs: the in-cluster registry, the pushed repository path, the pushed version.
find "${out}/istio/mesh/filters" -name '*.yaml' -exec sed -i -E \
  "s#oci://${module_host}/meshguard/([a-z_]+):0\\.1\\.0#oci://${module_host}${repo:+/${repo}}/\\1:${version}#" {} +

approval="$(pin "${approval_image}")"
modules="$(pin "${registry_image}")"
{
  echo "# Rendered by istio/render.sh for ${registry} ${version}: apply with kubectl apply -k ."
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - istio"
  echo "images:"
  echo "  - name: ghcr.io/example-org/meshguard/approval"
  echo "    newName: ${approval%@*}"
  echo "    digest: ${approval#*@}"
  echo "  - name: docker.io/library/registry"
  echo "    newName: ${modules%@*}"
  echo "    digest: ${modules#*@}"
} >"${out}/kustomization.yaml"

"${kubectl}" kustomize "${out}" >"${out}/meshguard.yaml"
for image in "${approval}" "${modules}"; do
  grep -qF "image: ${image}" "${out}/meshguard.yaml" || die "${image} did not land in the output"
done
grep -qF "${empty}" "${out}/meshguard.yaml" && die "an empty-string module digest is left in the output"
if grep -E "image: (ghcr.io/example-org/meshguard/approval|docker.io/library/registry)@sha256:${zero}" "${out}/meshguard.yaml"; then
  die "a placeholder digest is left in the output"
fi

cat <<MSG
render: ${out}/meshguard.yaml (kubectl apply -k ${out})
Images still to set for your own applications (agents, tools, Chroma): kustomize edit set image in ${out}.
Secrets to create before applying (never in the manifests):
  kubectl -n mesh-gateway create secret generic mcp-gateway-keys \\
    --from-file=signing-keys=signing-keys.json --from-literal=session-keys="1:\$(openssl rand -base64 32)"
      # signing-keys.json: {"active":"k1","keys":[{"kid":"k1","alg":"ES256","pem":"<PKCS#8 EC P-256 PEM>"}]}
  kubectl -n mesh-gateway create secret generic approval-keys --from-file=signing-keys=approval-keys.json
      # approval-keys.json: the approval service's ES256 key ring, same form; its public key is
      # the inline JWKS of istio/mesh/filters/approval-gate.yaml
  kubectl -n mesh-gateway create secret tls meshguard-edge-tls --cert=edge.crt --key=edge.key
MSG
