#!/usr/bin/env bash
# meshguard on a real Istio mesh in kind: for users with Docker (`make kind-e2e`).
#
# NOT RUN IN THIS PROJECT'S CI: the build machines have no Docker engine. Everything this
# script proves about the filters is also proved against real Envoy by `make test`; what
# only a cluster proves (istio-agent pulling and verifying the OCI modules, Istio's RBAC,
# Sidecar REGISTRY_ONLY, NetworkPolicies, PSA admission) is what this script is for.
#
# Needs: docker, kind, kubectl, istioctl (Istio >= istio/versions.env ISTIO_MIN, checked),
# openssl, jq, curl; Rust + `make build`.
# Steps: a kind cluster with a NetworkPolicy-enforcing CNI (Calico), Istio with the CNI node
# agent (PSA `restricted` forbids istio-init's NET_ADMIN) and its version checked, the
# in-cluster module registry (istio/modules) applied, the filters pushed into it through a
# port-forward and istio/ rendered with their digests (istio/render.sh, as a user does),
# the rendered mesh applied with test images and keys, then the scenarios: the attacks, the
# agents' approval poll and the approval page at the edge. Every module the filters use is
# pulled by istio-agent from the in-cluster registry under the manifests' own
# NetworkPolicies and WASM_INSECURE_REGISTRIES annotations (no mesh-wide setting here). Scenarios needing a user token from your IdP run only
# when USER_TOKEN is set (and istio/ names that IdP); they are reported SKIPPED otherwise.
#
# Environment: CLUSTER (meshguard), KEEP_CLUSTER=1 to leave it running,
# APP_IMAGE (a stand-in HTTP server on :8080 with /healthz for agents and tools),
# CALICO_VERSION, USER_TOKEN.
set -euo pipefail

cluster="${CLUSTER:-meshguard}"
module_port=5001
app_image="${APP_IMAGE:-docker.io/mendhak/http-https-echo:31}"
calico_version="${CALICO_VERSION:-v3.28.2}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
passed=0
failed=0
skipped=0

log() { printf '\n== %s\n' "$*"; }

cleanup() {
  rm -rf "${work}"
  if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
    kind delete cluster --name "${cluster}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

require() {
  local missing=()
  for tool in docker kind kubectl istioctl openssl jq curl; do
    command -v "${tool}" >/dev/null || missing+=("${tool}")
  done
  if ((${#missing[@]})); then
    echo "kind-e2e: missing ${missing[*]}" >&2
    exit 1
  fi
  docker info >/dev/null 2>&1 || { echo "kind-e2e: no Docker engine reachable" >&2; exit 1; }
  # The istioctl that installs the mesh decides its version: refuse an old one up front.
  bash "${here}/validate/check-istio-version.sh" "$(istioctl version --remote=false --short 2>/dev/null | tail -1)"
}

create_cluster() {
  log "kind cluster ${cluster}"
  cat >"${work}/kind.yaml" <<YAML
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true   # Calico below: kindnet does not enforce NetworkPolicy
YAML
  kind create cluster --name "${cluster}" --config "${work}/kind.yaml" --wait 120s
  kubectl apply -f "https://raw.githubusercontent.com/projectcalico/calico/${calico_version}/manifests/calico.yaml"
  kubectl -n kube-system rollout status daemonset/calico-node --timeout=300s
}

install_istio() {
  log "Istio with the CNI node agent, REGISTRY_ONLY outbound"
  istioctl install -y \
    --set profile=minimal \
    --set components.cni.enabled=true \
    --set meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY
  bash "${here}/validate/check-istio-version.sh"
}

publish_filters() {
  log "in-cluster module registry; push the filters into it and render istio/ (istio/render.sh)"
  docker pull -q registry:3 >/dev/null
  local registry_image
  registry_image="docker.io/library/$(docker inspect --format '{{index .RepoDigests 0}}' registry:3)"
  mkdir -p "${work}/modules"
  cat >"${work}/modules/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ${here}/modules
images:
  - name: docker.io/library/registry
    digest: ${registry_image#*@}
YAML
  kubectl apply -k "${work}/modules"
  kubectl -n meshguard-modules rollout status deployment/module-registry --timeout=300s
  kubectl -n meshguard-modules port-forward svc/module-registry "${module_port}:5000" >/dev/null 2>&1 &
  local pf=$!
  sleep 3
  # The approval service runs as the stand-in application image here (routing is what the
  # scenarios check); a real deployment pins its own approval image the same way.
  SKIP_BUILD=1 MODULE_REGISTRY_IMAGE="${registry_image}" \
    APPROVAL_IMAGE="docker.io/$(docker pull -q "${app_image}" >/dev/null && docker inspect --format '{{index .RepoDigests 0}}' "${app_image}")" \
    KUBECTL="$(command -v kubectl)" \
    bash "${here}/render.sh" "127.0.0.1:${module_port}/meshguard" e2e "${work}/rendered"
  kill "${pf}" 2>/dev/null || true
}

apply_mesh() {
  log "apply istio/ with stand-in application images, keys and an edge certificate"
  for ns in mesh-gateway agents-sre agents-security tools mesh-egress memory; do
    kubectl create namespace "${ns}" --dry-run=client -o yaml | kubectl apply -f -
  done
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt >"${work}/signing.pem"
  jq -n --rawfile pem "${work}/signing.pem" '{active: "k1", keys: [{kid: "k1", alg: "ES256", pem: $pem}]}' >"${work}/keys.json"
  kubectl -n mesh-gateway create secret generic mcp-gateway-keys \
    --from-file=signing-keys="${work}/keys.json" \
    --from-literal=session-keys="1:$(openssl rand -base64 32)" \
    --dry-run=client -o yaml | kubectl apply -f -
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=meshguard.example.com" \
    -keyout "${work}/edge.key" -out "${work}/edge.crt" 2>/dev/null
  kubectl -n mesh-gateway create secret tls meshguard-edge-tls \
    --cert="${work}/edge.crt" --key="${work}/edge.key" --dry-run=client -o yaml | kubectl apply -f -
  kubectl -n mesh-gateway create secret generic approval-keys \
    --from-file=signing-keys="${work}/keys.json" --dry-run=client -o yaml | kubectl apply -f -
  cat >"${work}/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - rendered
images:
YAML
  for app in sre-agent security-agent mcp-github mcp-payroll; do
    printf '  - name: ghcr.io/example-org/%s\n    newName: %s\n    newTag: "%s"\n' \
      "${app}" "${app_image%:*}" "${app_image##*:}" >>"${work}/kustomization.yaml"
  done
  kubectl apply -k "${work}"
  for ns in mesh-gateway agents-sre agents-security tools mesh-egress memory; do
    kubectl -n "${ns}" wait --for=condition=Available deployment --all --timeout=300s
  done
}

# Run curl from a short-lived pod with the identity (ServiceAccount, app label) of a workload.
# Prints the HTTP status, or 000 when the connection itself was refused or blackholed.
curl_as() {
  local ns="$1" app="$2" url="$3"
  shift 3
  local overrides
  overrides="$(jq -nc --arg sa "${app}" --arg app "${app}" '{spec: {serviceAccountName: $sa,
    securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: "RuntimeDefault"}},
    containers: [{name: "curl", image: "curlimages/curl:8.10.1", stdin: false,
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ["ALL"]}}}]}}')"
  kubectl -n "${ns}" run "probe-$RANDOM" --rm -i --quiet --restart=Never \
    --image=curlimages/curl:8.10.1 --labels="app=${app}" --overrides="${overrides}" \
    --command -- curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "${url}" || true
}

expect() {
  local name="$1" control="$2" want="$3" got="$4"
  if [[ "${got}" =~ ^(${want})$ ]]; then
    printf 'PASS %-8s %-55s got %s\n' "${control}" "${name}" "${got}"
    passed=$((passed + 1))
  else
    printf 'FAIL %-8s %-55s got %s, want %s\n' "${control}" "${name}" "${got}" "${want}"
    failed=$((failed + 1))
  fi
}

skip() {
  printf 'SKIP %-8s %-55s %s\n' "$1" "$2" "$3"
  skipped=$((skipped + 1))
}

scenarios() {
  log "attack scenarios"
  local gw=http://mcp-gateway.mesh-gateway.svc.cluster.local
  local call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}'
  expect "agent calls a tool directly (bypass gateway)" MCP-07 "000|403|502|503" \
    "$(curl_as agents-sre sre-agent http://mcp-github.tools.svc.cluster.local:8080/mcp)"
  expect "sre agent reaches the security team's agent" MCP-07 "000|403|502|503" \
    "$(curl_as agents-sre sre-agent http://security-agent.agents-security.svc.cluster.local:8080/)"
  expect "tool opens a connection to an agent" MCP-07 "000|403|502|503" \
    "$(curl_as tools mcp-github http://sre-agent.agents-sre.svc.cluster.local:8080/)"
  expect "agent calls a tool through the gateway without a token" MCP-02 "401" \
    "$(curl_as agents-sre sre-agent "${gw}/tools/mcp-github/mcp" -X POST -H 'content-type: application/json' -d "${call}")"
  expect "agent presents a forged token" MCP-02 "401" \
    "$(curl_as agents-sre sre-agent "${gw}/tools/mcp-github/mcp" -X POST -H 'authorization: Bearer e30.e30.x' -d "${call}")"
  expect "tool reads cloud metadata (IPv4)" MCP-08 "000|403|502|503" \
    "$(curl_as tools mcp-github http://169.254.169.254/latest/meta-data/)"
  expect "tool calls a host off the allow-list" MCP-08 "000|403|502|503" \
    "$(curl_as tools mcp-github https://example.com/)"
  expect "payroll tool uses the github egress route" MCP-08 "000|403|502|503" \
    "$(curl_as tools mcp-payroll https://api.github.com/)"
  expect "allow-listed host through the egress gateway" MCP-08 "200|301|403" \
    "$(curl_as tools mcp-github https://api.github.com/)"
  expect "agent polls its approval (approval-callers)" HITL "200|404" \
    "$(curl_as agents-sre sre-agent http://approval.mesh-gateway.svc.cluster.local:8080/v1/approvals/probe)"
  expect "tool reaches the approval service" HITL "000|403|502|503" \
    "$(curl_as tools mcp-github http://approval.mesh-gateway.svc.cluster.local:8080/v1/approvals/probe)"
  kubectl -n mesh-gateway port-forward svc/edge-gateway 8443:443 >/dev/null 2>&1 &
  local pf=$!
  sleep 3
  expect "user without a token at the edge" edge "401|403" \
    "$(curl -sk -o /dev/null -w '%{http_code}' --resolve meshguard.example.com:8443:127.0.0.1 https://meshguard.example.com:8443/agents/sre-agent/)"
  expect "approval page at the edge without a token" HITL "401|403" \
    "$(curl -sk -o /dev/null -w '%{http_code}' --resolve meshguard.example.com:8443:127.0.0.1 https://meshguard.example.com:8443/)"
  if [[ -n "${USER_TOKEN:-}" ]]; then
    expect "approver opens the approval page (token in meshguard-approvers)" HITL "200" \
      "$(curl -sk -o /dev/null -w '%{http_code}' --resolve meshguard.example.com:8443:127.0.0.1 \
        -H "authorization: Bearer ${USER_TOKEN}" https://meshguard.example.com:8443/)"
    expect "user opens a chat session" MCP-18 "200" \
      "$(curl -sk -o /dev/null -w '%{http_code}' --resolve meshguard.example.com:8443:127.0.0.1 \
        -H "authorization: Bearer ${USER_TOKEN}" https://meshguard.example.com:8443/meshguard/session)"
  else
    skip MCP-18 "user opens a chat session" "USER_TOKEN not set"
  fi
  kill "${pf}" 2>/dev/null || true
}

main() {
  require
  create_cluster
  install_istio
  publish_filters
  apply_mesh
  scenarios
  echo
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
  ((failed == 0))
}

main "$@"
