#!/usr/bin/env bash
# Refuse a mesh older than istio/versions.env (`make istio-version-check`, istio/kind-e2e.sh).
#
#   istio/validate/check-istio-version.sh [VERSION]
#
# Without VERSION, reads the running istiod's version (`istioctl version --remote=false` is
# the client; `kubectl` reads the control plane's image tag, which is its version).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
min="$(sed -n 's/^ISTIO_MIN=//p' "${here}/versions.env")"
envoy_min="$(sed -n 's/^ENVOY_MIN=//p' "${here}/versions.env")"
version="${1:-}"
if [[ -z "${version}" ]]; then
  image="$(kubectl -n istio-system get deployment istiod \
    -o jsonpath='{.spec.template.spec.containers[?(@.name=="discovery")].image}' 2>/dev/null || true)"
  version="${image##*:}"
fi
if [[ -z "${version}" ]]; then
  echo "istio-version-check: no istiod found in istio-system (kubectl context: $(kubectl config current-context 2>/dev/null || echo none))" >&2
  exit 1
fi
# 1.27.3, 1.27.3-distroless, 1.28-alpha.x -> major.minor
major_minor() { local v="${1#v}"; v="${v%%-*}"; echo "${v%.*}" | awk -F. '{print $1 "." $2}'; }
have="$(major_minor "${version}")"
IFS=. read -r have_major have_minor <<<"${have}"
IFS=. read -r min_major min_minor <<<"${min}"
if ! [[ "${have_major}" =~ ^[0-9]+$ && "${have_minor}" =~ ^[0-9]+$ ]]; then
  echo "istio-version-check: cannot read a version from '${version}'" >&2
  exit 1
fi
if ((have_major < min_major || (have_major == min_major && have_minor < min_minor))); then
  echo "istio-version-check: Istio ${version} is older than ${min} (Envoy ${envoy_min}): meshguard's EnvoyFilters set" >&2
  echo "  allow_on_headers_stop_iteration, which older proxies ignore, and every request a filter holds stalls." >&2
  echo "  Upgrade Istio to ${min} or later." >&2
  exit 1
fi
echo "istio-version-check: Istio ${version} >= ${min} (Envoy >= ${envoy_min})"
