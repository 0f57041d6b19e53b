#!/usr/bin/env bash
# validate.sh - offline checks of deploy/kubernetes (no cluster needed).
#
#   1. deploy/kubernetes/generate.sh --check: the ConfigMap's copy of config/tcpstate_exporter.yml
#      and the PrometheusRule built from deploy/prometheus/tcpstate_exporter.rules.yml are current
#   2. kustomize renders deploy/kubernetes and deploy/kubernetes/prometheus-operator
#   3. tests/deploy/validate.mjs on both renderings: Kubernetes and prometheus-operator schemas,
#      strict field names, API-server rules, wiring, the DaemonSet's security properties, the
#      config copy and the PrometheusRule contents, the plain-Prometheus scrape job
#   4. promtool check config on deploy/kubernetes/prometheus-scrape-config.yml
#   5. mutations: broken copies of the manifests (made in a temporary directory, never in the
#      tree) must each make the validator fail with the expected complaint, so the checks are
#      known to bite
#
# Needs: node (>= 18) and npm, kustomize v4+ as `kubectl kustomize` (kubectl >= 1.21) or as
# `kustomize`, promtool. The validator's npm packages are pinned by tests/deploy/package-lock.json
# and installed with `npm ci` into a cache directory, once per lock file: the first run needs
# the npm registry, later runs are offline.
#
# Usage: tests/deploy/validate.sh [--node-dir DIR] [--no-mutations]
#   --node-dir DIR   where the npm packages go (default $TCPSTATE_DEPLOY_NODE_DIR, else
#                    ${TMPDIR:-/tmp}/tcpstate-deploy-node-<uid>)
# Exit status: 0 all passed, 1 a check failed or a tool is missing.

set -uo pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
root=$(CDPATH='' cd -- "$here/../.." && pwd)
node_dir=${TCPSTATE_DEPLOY_NODE_DIR:-${TMPDIR:-/tmp}/tcpstate-deploy-node-$(id -u)}
mutations=1
while [ $# -gt 0 ]; do
    case $1 in
        --node-dir) node_dir=$2; shift 2 ;;
        --no-mutations) mutations=0; shift ;;
        *) echo "validate.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

passed=0
failed=0
pass() { printf '  ok: %s\n' "$*"; passed=$((passed + 1)); }
fail() { printf 'FAILED: %s\n' "$*"; failed=$((failed + 1)); }
step() { printf '\n=== %s\n' "$1"; }
die() { printf 'validate.sh: %s\n' "$*" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# --- tools -------------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found (Debian: apt-get install nodejs)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || die "node $(node --version) is too old: 18 or newer is needed"
command -v npm >/dev/null 2>&1 || die "npm not found (Debian: apt-get install npm)"
command -v promtool >/dev/null 2>&1 || die "promtool not found (Debian: apt-get install prometheus)"

# kustomize v4+ (configMapGenerator options, directory resources): kubectl 1.21+ embeds it;
# Debian 12's kubernetes-client (kubectl 1.20) embeds kustomize v2.0.3, which is too old.
kustomize=()
if command -v kubectl >/dev/null 2>&1; then
    kv=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}\([0-9][0-9]*\).*/\1/p')
    if [ -n "$kv" ] && [ "$kv" -ge 4 ]; then kustomize=(kubectl kustomize); fi
fi
if [ ${#kustomize[@]} -eq 0 ] && command -v kustomize >/dev/null 2>&1; then
    kv=$(kustomize version 2>/dev/null | grep -o 'v[0-9][0-9]*' | head -1 | tr -d v)
    if [ -n "$kv" ] && [ "$kv" -ge 4 ]; then kustomize=(kustomize build); fi
fi
if [ ${#kustomize[@]} -eq 0 ]; then
    # Not a Debian 12 package (its kubernetes-client is 1.20, with kustomize v2): skipped, and
    # ctest reports it as such, rather than failing on a machine without one.
    printf 'validate.sh: SKIPPED: no kustomize v4 or newer: need kubectl >= 1.21 (kubectl kustomize) or a kustomize binary on PATH\n' >&2
    exit 77
fi
printf 'tools: node %s, npm %s, %s (kustomize v%s), %s\n' "$(node --version)" "$(npm --version 2>/dev/null)" \
    "${kustomize[*]}" "$kv" "$(promtool --version 2>&1 | head -1)"

# --- npm packages, pinned by package-lock.json ------------------------------------------------
want=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-32)
if [ "$(cat "$node_dir/.installed" 2>/dev/null)" != "$want" ] || [ ! -d "$node_dir/node_modules" ]; then
    mkdir -p "$node_dir" || die "cannot create $node_dir"
    rm -f "$node_dir/.installed"
    cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
    printf 'installing the pinned npm packages into %s (npm ci)\n' "$node_dir"
    if ! (cd "$node_dir" && npm ci --prefer-offline --no-audit --no-fund --ignore-scripts \
        --loglevel=error --fetch-retries=1 --fetch-timeout=60000 >"$node_dir/npm-ci.log" 2>&1); then
        tail -n 20 "$node_dir/npm-ci.log"
        die "npm ci failed in $node_dir (log above). The first run needs the npm registry; is it reachable? Later runs reuse $node_dir."
    fi
    echo "$want" >"$node_dir/.installed"
fi
# ESM resolves packages from the importing file's directory: run the validator beside node_modules.
cp "$here/validate.mjs" "$node_dir/validate.mjs"

# render DIR OUT: kustomize DIR into OUT.
render() {
    "${kustomize[@]}" "$1" >"$2" 2>"$2.err"
}

# --- 1. derived files --------------------------------------------------------------------------
step "1. generated files are current (deploy/kubernetes/generate.sh --check)"
if sh "$root/deploy/kubernetes/generate.sh" --check; then pass "generate.sh --check"; else fail "generated files are stale: run deploy/kubernetes/generate.sh"; fi

# --- 2. render -----------------------------------------------------------------------------------
step "2. kustomize"
for v in plain:deploy/kubernetes operator:deploy/kubernetes/prometheus-operator; do
    name=${v%%:*} dir=${v#*:}
    if render "$root/$dir" "$tmp/$name.yaml"; then
        pass "${kustomize[*]} $dir ($(grep -c '^kind:' "$tmp/$name.yaml") objects)"
    else
        cat "$tmp/$name.yaml.err"
        fail "${kustomize[*]} $dir"
    fi
done

# --- 3. validate -------------------------------------------------------------------------------
step "3. schemas, API-server rules, wiring, security (validate.mjs)"
if [ -s "$tmp/plain.yaml" ] && [ -s "$tmp/operator.yaml" ]; then
    if node "$node_dir/validate.mjs" --root "$root" --scrape-config "$root/deploy/kubernetes/prometheus-scrape-config.yml" \
        plain="$tmp/plain.yaml" operator="$tmp/operator.yaml"; then
        pass "validate.mjs"
    else
        fail "validate.mjs"
    fi
else
    fail "nothing rendered to validate"
fi

# --- 4. promtool ---------------------------------------------------------------------------------
step "4. promtool check config deploy/kubernetes/prometheus-scrape-config.yml"
scrape="$root/deploy/kubernetes/prometheus-scrape-config.yml"
if promtool check config "$scrape" >"$tmp/promtool.log" 2>&1; then
    pass "promtool check config"
elif grep -q 'field kubernetes_sd_configs not found' "$tmp/promtool.log"; then
    # Debian's Prometheus is built without Kubernetes service discovery: its promtool cannot
    # parse kubernetes_sd_configs. Check everything else with static targets in its place
    # (validate.mjs checked the kubernetes_sd_configs block itself).
    echo "  (this promtool has no Kubernetes service discovery: checking the file with static_configs in place of kubernetes_sd_configs)"
    (cd "$node_dir" && node --input-type=module -e '
        import YAML from "yaml";
        import { readFileSync, writeFileSync } from "node:fs";
        const cfg = YAML.parse(readFileSync(process.argv[1], "utf8"));
        for (const job of cfg.scrape_configs ?? []) {
            if (job.kubernetes_sd_configs) {
                delete job.kubernetes_sd_configs;
                job.static_configs = [{ targets: ["node.example:9930"] }];
            }
        }
        writeFileSync(process.argv[2], YAML.stringify(cfg));
    ' "$scrape" "$tmp/scrape-static.yml") &&
        promtool check config "$tmp/scrape-static.yml" >"$tmp/promtool.log" 2>&1 &&
        pass "promtool check config (static_configs in place of kubernetes_sd_configs)" ||
        { cat "$tmp/promtool.log"; fail "promtool check config"; }
else
    cat "$tmp/promtool.log"
    fail "promtool check config"
fi

# --- 5. mutations --------------------------------------------------------------------------------
if [ "$mutations" -eq 1 ]; then
    step "5. broken manifests must fail (mutations in a scratch copy)"
    # mutate FILE SED-SCRIPT EXPECTED-ERE DESCRIPTION: copy the inputs, apply the sed script to
    # FILE (relative to deploy/kubernetes), render both variants, run the validator: it must
    # exit 1 and print a FAILED line matching EXPECTED.
    # The self-test ran in step 3; tsc (slow) runs only where EXPECTED is a field-name error.
    mutate() {
        local file=$1 script=$2 expect=$3 what=$4 m="$tmp/m" status types=--no-types
        case $expect in fields:*) types="" ;; esac
        rm -rf "$m"
        mkdir -p "$m/deploy/prometheus" "$m/config"
        cp -R "$root/deploy/kubernetes" "$m/deploy/"
        cp "$root/CMakeLists.txt" "$m/"
        cp "$root/config/tcpstate_exporter.yml" "$m/config/"
        cp "$root/deploy/prometheus/tcpstate_exporter.rules.yml" "$m/deploy/prometheus/"
        if [ "$file" = "+resource" ]; then
            # add a resource: SCRIPT is its content
            printf '%s\n' "$script" >"$m/deploy/kubernetes/base/extra.yaml"
            sed -i 's/^  - service.yaml$/  - service.yaml\n  - extra.yaml/' "$m/deploy/kubernetes/base/kustomization.yaml"
        else
            cp "$m/deploy/kubernetes/$file" "$tmp/before"
            sed -i -e "$script" "$m/deploy/kubernetes/$file"
            if cmp -s "$tmp/before" "$m/deploy/kubernetes/$file"; then
                fail "mutation '$what' changed nothing in $file: the test itself is stale"
                return
            fi
        fi
        if ! render "$m/deploy/kubernetes" "$m/plain.yaml" || ! render "$m/deploy/kubernetes/prometheus-operator" "$m/operator.yaml"; then
            fail "mutation '$what': kustomize failed to render it (the mutation must produce renderable YAML)"
            return
        fi
        node "$node_dir/validate.mjs" --no-self-test $types --root "$m" --scrape-config "$m/deploy/kubernetes/prometheus-scrape-config.yml" \
            plain="$m/plain.yaml" operator="$m/operator.yaml" >"$m/out" 2>&1
        status=$?
        if [ "$status" -eq 1 ] && grep -E '^  FAILED ' "$m/out" | grep -Eq -- "$expect"; then
            pass "rejected: $what -> $(grep -E '^  FAILED ' "$m/out" | grep -E -- "$expect" | head -1 | sed 's/^  FAILED //' | cut -c1-150)"
        else
            tail -n 15 "$m/out"
            fail "mutation '$what' was not rejected as expected (exit $status, expected a FAILED line matching /$expect/)"
        fi
    }
    ds=base/daemonset.yaml
    mutate $ds '/^                - ALL$/d' 'capabilities.drop must be \[ALL\]' "capabilities.drop ALL removed"
    mutate $ds 's/^\(                \)- SYS_ADMIN$/\1- SYS_ADMIN\n\1- NET_ADMIN/' 'capabilities.add must be exactly' "NET_ADMIN added"
    mutate $ds 's/^\(                \)- SYS_ADMIN$/\1- CAP_SYS_ADMIN/' 'rejects capabilities.add CAP_SYS_ADMIN' "CAP_SYS_ADMIN with allowPrivilegeEscalation false"
    mutate $ds 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' 'allowPrivilegeEscalation must be false' "allowPrivilegeEscalation true"
    mutate $ds 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' 'readOnlyRootFilesystem must be true' "writable root filesystem"
    mutate $ds 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' 'fields: .*readOnlyRootFileSystem' "misspelt field readOnlyRootFileSystem"
    mutate $ds 's/type: RuntimeDefault/type: Unconfined/' 'seccompProfile must be RuntimeDefault' "seccomp Unconfined"
    mutate $ds '/^          readinessProbe:$/,/^            failureThreshold: 2$/d' 'readinessProbe must be' "readiness probe removed"
    mutate $ds 's|path: /healthz|path: /metrics|' 'livenessProbe must be' "liveness probe on /metrics"
    mutate $ds 's/containerPort: 9930/containerPort: "9930x"/' 'schema: .*containerPort' "containerPort not a number"
    mutate $ds 's/^      hostPID: true$/      hostPID: false/' 'hostPID must be true' "hostPID false"
    mutate $ds 's/^      automountServiceAccountToken: false$/      automountServiceAccountToken: true/' 'automountServiceAccountToken must be false' "service account token mounted"
    mutate $ds 's/^            runAsUser: 0$/            runAsUser: 65534/' 'runAsUser must be 0' "non-root uid (capabilities would not apply)"
    mutate $ds 's/--web.listen-address=\[$(HOST_IP)\]:9930/--web.listen-address=:9930/' 'listen address must be the node' "listening on every address"
    mutate $ds 's/$(HOST_IP)\]:9930/$(HOSTIP)]:9930/' 'not in env' "undefined \$(VAR) in args"
    mutate $ds 's/hostPort: 9930/hostPort: 19930/' 'hostPort .* must equal containerPort' "hostPort differs from containerPort"
    mutate $ds '/^            appArmorProfile:$/,/^              type: Unconfined$/d' 'appArmorProfile' "AppArmor default profile"
    mutate $ds '/^        - operator: Exists$/d' 'toleration' "no toleration: not on every node"
    mutate $ds 's|^            path: /var/log/pods$|            path: /var/lib/kubelet|' 'hostPath other than /var/log/pods' "hostPath to the kubelet's state"
    mutate $ds '/^              mountPath: \/var\/log\/pods$/{n;s/readOnly: true/readOnly: false/}' 'must be mounted readOnly' "writable kubelet pod logs"
    mutate base/service.yaml 's/^    app.kubernetes.io\/name: tcpstate_exporter$/    app.kubernetes.io\/name: tcpstate-exporter/' 'does not select' "Service selector matches no pod"
    mutate base/tcpstate_exporter.yml 's/^  interval: 15s$/  interval: 10s/' 'differs from config/tcpstate_exporter.yml' "config copy drifted"
    mutate prometheus-operator/prometheusrule.yaml '0,/for: 15m/s//for: 20m/' 'spec differs from deploy/prometheus' "PrometheusRule drifted from the rules file"
    mutate prometheus-operator/servicemonitor.yaml 's/jobLabel: app.kubernetes.io\/name/jobLabel: app.kubernetes.io\/part-of-x/' 'jobLabel' "job label not tcpstate_exporter"
    mutate prometheus-scrape-config.yml 's/regex: metrics/regex: http/' 'no keep rule' "scrape job keeps no port"
    mutate +resource 'apiVersion: example.com/v1
kind: Widget
metadata:
  name: unknown' 'unknown kind' "an object of an unknown kind"
fi

printf '\nvalidate.sh: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
