// validate.mjs - offline validation of the rendered Kubernetes manifests of tcpstate_exporter.
//
// Usage (tests/deploy/validate.sh runs it from the npm cache directory, next to node_modules):
//   node validate.mjs --root REPO [--scrape-config FILE] [--no-self-test] [--no-types] NAME=RENDERED.yaml ...
// NAME is "plain" (kubectl kustomize deploy/kubernetes) or "operator"
// (kubectl kustomize deploy/kubernetes/prometheus-operator): it sets the kinds expected.
//
// Checks, each failure printed with the object it concerns:
//   1. schema: every object is validated by the kubernetes-models / prometheus-operator model of
//      its apiVersion and kind (OpenAPI schemas of Kubernetes 1.34 and the operator's CRDs);
//      an apiVersion/kind with no model is an error
//   2. field names: every object is type-checked by TypeScript against the same models'
//      interfaces, so an unknown or misspelt field (which the JSON schemas allow) is an error
//   3. what the API server would reject and no schema says: names, label keys and values,
//      port names, hostPort == containerPort with hostNetwork, CAP_SYS_ADMIN with
//      allowPrivilegeEscalation false, $(VAR) references, volume and ConfigMap references
//   4. wiring: selectors match, the probes and the Service use a declared port, the
//      ServiceMonitor selects the Service and gets job="tcpstate_exporter", the image tag is
//      the CMake project version
//   5. the security properties of the DaemonSet (see SECURITY below), so a regression fails
//   6. the ConfigMap holds deploy/kubernetes/base/tcpstate_exporter.yml, which equals
//      config/tcpstate_exporter.yml apart from namespaces.mode: all; the PrometheusRule's spec
//      equals deploy/prometheus/tcpstate_exporter.rules.yml
//   7. the plain-Prometheus scrape job (--scrape-config) discovers exactly these pods
// Before any of that, a self-test feeds the validators known-bad objects and fails if they are
// accepted (a validator that accepts everything must not pass the test).

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const NAMESPACE = "tcpstate-exporter";
const APP = "tcpstate_exporter";
const CAPS = ["DAC_READ_SEARCH", "SYS_ADMIN", "SYS_PTRACE"];
const EXPECTED_KINDS = {
  plain: ["ConfigMap", "DaemonSet", "Namespace", "Service", "ServiceAccount"],
  operator: ["ConfigMap", "DaemonSet", "Namespace", "PrometheusRule", "Service", "ServiceAccount",
             "ServiceMonitor"],
};
// Model packages, searched in this order for <group>/<version>/<Kind>.
const PACKAGES = ["kubernetes-models", "@kubernetes-models/prometheus-operator"];

// ---------------------------------------------------------------------------------------------
// arguments

const args = process.argv.slice(2);
let root = null;
let scrapeConfig = null;
let selfTestWanted = true;
let typesWanted = true;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--root") root = args[++i];
  else if (args[i] === "--scrape-config") scrapeConfig = args[++i];
  else if (args[i] === "--no-self-test") selfTestWanted = false; // mutation runs: validate.sh ran it
  else if (args[i] === "--no-types") typesWanted = false; // mutation runs that need no tsc
  else if (/^(plain|operator)=/.test(args[i])) {
    const [name, file] = [args[i].slice(0, args[i].indexOf("=")), args[i].slice(args[i].indexOf("=") + 1)];
    inputs.push({ name, file });
  } else {
    console.error(`validate.mjs: unknown argument ${args[i]}`);
    process.exit(2);
  }
}
if (!root || inputs.length === 0) {
  console.error("usage: node validate.mjs --root REPO [--scrape-config FILE] plain|operator=RENDERED.yaml ...");
  process.exit(2);
}

const errors = [];
let checks = 0;
function check(cond, where, message) {
  checks++;
  if (!cond) errors.push(`${where}: ${message}`);
  return cond;
}
const id = (o) => `${o?.kind ?? "?"} ${o?.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o?.metadata?.name ?? "?"}`;

// ---------------------------------------------------------------------------------------------
// models

const modelCache = new Map();
function modelPath(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (!/^[A-Z][A-Za-z0-9]*$/.test(kind) || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return null;
  const sub = `${apiVersion}/${kind}`; // core: v1/Kind, others: group/version/Kind
  for (const pkg of PACKAGES) {
    const file = join(here, "node_modules", pkg, `${sub}.js`);
    if (existsSync(file)) return { pkg, sub, file };
  }
  return null;
}
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion} ${kind}`;
  if (!modelCache.has(key)) {
    const p = modelPath(apiVersion, kind);
    let model = null;
    if (p) {
      const mod = await import(pathToFileURL(p.file).href);
      const cls = mod[kind];
      if (cls && cls.apiVersion === apiVersion && cls.kind === kind && typeof cls.prototype.validate === "function") {
        model = { cls, ...p };
      }
    }
    modelCache.set(key, model);
  }
  return modelCache.get(key);
}
async function schemaErrors(obj) {
  const model = await modelFor(obj?.apiVersion, obj?.kind);
  if (!model) return [`no schema for apiVersion ${obj?.apiVersion} kind ${obj?.kind} (unknown kind)`];
  try {
    new model.cls(obj).validate();
    return [];
  } catch (e) {
    return [`schema: ${e.message}`];
  }
}

// TypeScript: each object as an object literal of its model's interface type. Excess property
// checks reject fields the API does not have; the type checks repeat the schema's.
async function typeErrors(objs) {
  const dir = join(here, "tscheck");
  mkdirSync(dir, { recursive: true });
  const lines = [];
  const spans = [];
  const imports = new Map();
  for (const obj of objs) {
    const model = await modelFor(obj.apiVersion, obj.kind);
    if (!model) continue;
    const spec = `${model.pkg}/${model.sub}`;
    if (!imports.has(spec)) imports.set(spec, `T${imports.size}`);
  }
  for (const [spec, alias] of imports) {
    const kind = spec.slice(spec.lastIndexOf("/") + 1);
    lines.push(`import type { I${kind} as ${alias} } from ${JSON.stringify(spec)};`);
  }
  objs.forEach((obj, i) => {
    const model = modelCache.get(`${obj.apiVersion} ${obj.kind}`);
    if (!model) return;
    const alias = imports.get(`${model.pkg}/${model.sub}`);
    const start = lines.length + 1;
    lines.push(...`export const o${i}: ${alias} = ${JSON.stringify(obj, null, 2)};`.split("\n"));
    spans.push({ start, end: lines.length, obj });
  });
  const file = join(dir, "check.ts");
  writeFileSync(file, lines.join("\n") + "\n");
  const tsc = join(here, "node_modules", "typescript", "bin", "tsc");
  let out = "";
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--pretty", "false",
      "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
      file], { cwd: here, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return [];
  } catch (e) {
    out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
  }
  const result = [];
  for (const line of out.split("\n")) {
    const m = /check\.ts\((\d+),(\d+)\): (error .*)$/.exec(line);
    if (!m) {
      if (line.trim()) result.push({ obj: null, message: `tsc: ${line.trim()}` });
      continue;
    }
    const n = Number(m[1]);
    const span = spans.find((s) => n >= s.start && n <= s.end);
    result.push({ obj: span?.obj ?? null, message: `fields: ${m[3]} (near ${JSON.stringify(lines[n - 1].trim())})` });
  }
  if (result.length === 0) result.push({ obj: null, message: `tsc failed: ${out.trim()}` });
  return result;
}

// ---------------------------------------------------------------------------------------------
// what the API server checks beyond the schema (the parts that matter here)

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function validName(kind, name) {
  if (typeof name !== "string") return false;
  if (kind === "Namespace") return name.length <= 63 && DNS1123_LABEL.test(name);
  if (kind === "Service") return name.length <= 63 && DNS1035_LABEL.test(name);
  return name.length <= 253 && DNS1123_SUBDOMAIN.test(name);
}
function validLabelKey(key) {
  const slash = key.lastIndexOf("/");
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [null, key];
  if (prefix !== null && !(prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}
const validLabelValue = (v) => typeof v === "string" && (v === "" || (v.length <= 63 && LABEL_NAME.test(v)));
function validPortName(name) { // IANA_SVC_NAME
  return typeof name === "string" && name.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name) &&
    /[a-z]/.test(name) && !name.includes("--");
}
const matches = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function apiServerChecks(obj) {
  const where = id(obj);
  const meta = obj.metadata ?? {};
  check(validName(obj.kind, meta.name), where, `invalid name ${JSON.stringify(meta.name)}`);
  for (const field of ["labels", "annotations"]) {
    for (const [k, v] of Object.entries(meta[field] ?? {})) {
      check(validLabelKey(k), where, `invalid ${field} key ${JSON.stringify(k)}`);
      if (field === "labels") check(validLabelValue(v), where, `invalid label value ${k}=${JSON.stringify(v)}`);
    }
  }
  if (obj.kind !== "Namespace") {
    check(meta.namespace === NAMESPACE, where, `namespace is ${JSON.stringify(meta.namespace)}, expected ${NAMESPACE}`);
  }
  const pod = obj.kind === "DaemonSet" ? obj.spec?.template?.spec : null;
  if (!pod) return;
  for (const [k, v] of Object.entries(obj.spec.template.metadata?.labels ?? {})) {
    check(validLabelKey(k) && validLabelValue(v), where, `invalid pod label ${k}=${v}`);
  }
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
    const cw = `${where} container ${c.name}`;
    check(DNS1123_LABEL.test(c.name ?? "") && c.name.length <= 63, cw, "invalid container name");
    const envNames = new Set((c.env ?? []).map((e) => e.name));
    for (const e of c.env ?? []) check(ENV_NAME.test(e.name), cw, `invalid env name ${e.name}`);
    for (const s of [...(c.command ?? []), ...(c.args ?? [])]) {
      for (const m of s.matchAll(/\$\(([^)]*)\)/g)) {
        check(envNames.has(m[1]), cw, `${JSON.stringify(s)} refers to $(${m[1]}), which is not in env (it would stay literal)`);
      }
    }
    const names = new Set();
    for (const p of c.ports ?? []) {
      if (p.name !== undefined) {
        check(validPortName(p.name), cw, `invalid port name ${JSON.stringify(p.name)} (IANA service name, at most 15 characters)`);
        check(!names.has(p.name), cw, `duplicate port name ${p.name}`);
        names.add(p.name);
      }
      if (pod.hostNetwork) {
        check(p.hostPort === undefined || p.hostPort === p.containerPort, cw,
          `with hostNetwork, hostPort (${p.hostPort}) must equal containerPort (${p.containerPort})`);
      }
    }
    for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      const port = c[probe]?.httpGet?.port;
      if (typeof port === "string") check(names.has(port), cw, `${probe} uses port ${port}, which the container does not declare`);
    }
    const sc = c.securityContext ?? {};
    if (sc.allowPrivilegeEscalation === false) {
      check(!(sc.capabilities?.add ?? []).includes("CAP_SYS_ADMIN"), cw,
        "the API server rejects capabilities.add CAP_SYS_ADMIN with allowPrivilegeEscalation: false (write SYS_ADMIN)");
      check(sc.privileged !== true, cw, "privileged: true with allowPrivilegeEscalation: false is rejected");
    }
    for (const m of c.volumeMounts ?? []) check(volumes.has(m.name), cw, `volumeMount ${m.name} has no volume`);
  }
}

// ---------------------------------------------------------------------------------------------
// wiring and security of one rendering

const cmakeVersion = /project\(tcpstate_exporter VERSION ([0-9.]+)/.exec(readFileSync(join(root, "CMakeLists.txt"), "utf8"))?.[1];

function wiringAndSecurity(name, objs) {
  const where0 = `[${name}]`;
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const kinds = [...new Set(objs.map((o) => o.kind))].sort();
  check(isDeepStrictEqual(kinds, EXPECTED_KINDS[name]), where0, `kinds ${kinds.join(", ")}; expected ${EXPECTED_KINDS[name].join(", ")}`);
  for (const k of kinds) check(byKind(k).length === 1, where0, `${byKind(k).length} objects of kind ${k}, expected 1`);
  const keys = objs.map((o) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`);
  check(new Set(keys).size === keys.length, where0, "duplicate objects");

  const [ns] = byKind("Namespace");
  const [sa] = byKind("ServiceAccount");
  const [cm] = byKind("ConfigMap");
  const [svc] = byKind("Service");
  const [ds] = byKind("DaemonSet");
  const [sm] = byKind("ServiceMonitor");
  const [rule] = byKind("PrometheusRule");
  if (!ns || !sa || !cm || !svc || !ds) return;
  const W = id(ds);

  check(ns.metadata.name === NAMESPACE, id(ns), `expected namespace ${NAMESPACE}`);
  check(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"] === "privileged", id(ns),
    "pod-security.kubernetes.io/enforce must be privileged (hostPID, hostNetwork and the capabilities are not allowed by baseline)");
  check(sa.automountServiceAccountToken === false, id(sa), "automountServiceAccountToken must be false");

  const pod = ds.spec?.template?.spec ?? {};
  const podLabels = ds.spec?.template?.metadata?.labels ?? {};
  check(matches(ds.spec?.selector?.matchLabels, podLabels), W, "selector.matchLabels does not match the pod template labels");
  check(podLabels["app.kubernetes.io/name"] === APP, W, `pod label app.kubernetes.io/name must be ${APP}`);

  // --- SECURITY ---------------------------------------------------------------------------
  check(pod.hostPID === true, W, "hostPID must be true (every process's /proc entry and network namespace)");
  check(pod.hostNetwork === true, W, "hostNetwork must be true (the node's sockets and sysctls; see docs/deployment.md)");
  check(pod.hostIPC !== true, W, "hostIPC must not be set");
  check(pod.automountServiceAccountToken === false, W, "automountServiceAccountToken must be false (no API access needed)");
  check(pod.serviceAccountName === sa.metadata.name, W, `serviceAccountName must be ${sa.metadata.name}`);
  check((pod.tolerations ?? []).some((t) => t.operator === "Exists" && !t.key && !t.effect), W,
    "a toleration {operator: Exists} is needed to run on every node");
  check(ds.spec?.updateStrategy?.type === "RollingUpdate" && ds.spec.updateStrategy.rollingUpdate?.maxUnavailable !== undefined,
    W, "updateStrategy must be RollingUpdate with maxUnavailable");
  // One hostPath only: the kubelet's pod log directories, read only, for trusted pod names.
  for (const v of pod.volumes ?? []) {
    if (v.hostPath === undefined) continue;
    check(v.hostPath.path === "/var/log/pods" && v.hostPath.type === "Directory", W,
      `volume ${v.name} is a hostPath other than /var/log/pods (type Directory): the exporter needs no other`);
    const mounts = (pod.containers ?? []).flatMap((c) => c.volumeMounts ?? []).filter((m) => m.name === v.name);
    check(mounts.length > 0 && mounts.every((m) => m.readOnly === true && !m.mountPropagation), W,
      `hostPath volume ${v.name} must be mounted readOnly, without mount propagation`);
  }
  check((pod.containers ?? []).length === 1 && !(pod.initContainers ?? []).length, W, "exactly one container, no init containers");
  const c = pod.containers?.[0] ?? {};
  const CW = `${W} container ${c.name}`;
  const sc = c.securityContext ?? {};
  const podSc = pod.securityContext ?? {};
  const add = sc.capabilities?.add ?? [];
  check(isDeepStrictEqual(sc.capabilities?.drop, ["ALL"]), CW, `capabilities.drop must be [ALL], is ${JSON.stringify(sc.capabilities?.drop)}`);
  check(isDeepStrictEqual([...add].sort(), CAPS), CW, `capabilities.add must be exactly ${CAPS.join(", ")}, is ${JSON.stringify(add)}`);
  check(sc.allowPrivilegeEscalation === false, CW, "allowPrivilegeEscalation must be false");
  check(sc.readOnlyRootFilesystem === true, CW, "readOnlyRootFilesystem must be true");
  check(sc.privileged !== true && podSc.privileged === undefined, CW, "must not be privileged");
  check((sc.seccompProfile ?? podSc.seccompProfile)?.type === "RuntimeDefault", CW, "seccompProfile must be RuntimeDefault");
  check(sc.seccompProfile === undefined || sc.seccompProfile.type === "RuntimeDefault", CW, "container seccompProfile must be RuntimeDefault");
  check(sc.procMount === undefined || sc.procMount === "Default", CW, "procMount must stay Default");
  // Capabilities reach a non-root process only as ambient capabilities, which Kubernetes
  // cannot set: a non-root user here silently turns process attribution and namespaces off.
  check((sc.runAsUser ?? podSc.runAsUser) === 0, CW, "runAsUser must be 0 (capabilities need a root uid in Kubernetes)");
  check(sc.appArmorProfile?.type === "Unconfined" || pod.securityContext?.appArmorProfile?.type === "Unconfined",
    CW, "appArmorProfile Unconfined (the runtime default profile denies reading host processes' fds)");
  const port = (c.ports ?? []).find((p) => p.name === "metrics");
  check(port?.containerPort === 9930 && port?.protocol === "TCP", CW, "container port metrics must be 9930/TCP");
  check(c.livenessProbe?.httpGet?.path === "/healthz" && c.livenessProbe.httpGet.port === "metrics", CW,
    "livenessProbe must be httpGet /healthz on port metrics");
  check(c.readinessProbe?.httpGet?.path === "/readyz" && c.readinessProbe.httpGet.port === "metrics", CW,
    "readinessProbe must be httpGet /readyz on port metrics");
  const res = c.resources ?? {};
  for (const r of ["cpu", "memory"]) {
    check(res.requests?.[r] !== undefined && res.limits?.[r] !== undefined, CW, `resources.requests and limits for ${r} must be set`);
  }
  // The endpoint must not listen on every address of the node.
  const listen = (c.args ?? []).find((a) => a.startsWith("--web.listen-address"));
  const hostIpEnv = (c.env ?? []).find((e) => e.name === "HOST_IP");
  check(listen === "--web.listen-address=$(HOST_IP):9930" || listen === "--web.listen-address=[$(HOST_IP)]:9930", CW,
    `the listen address must be the node's IP ($(HOST_IP)), not ${JSON.stringify(listen)}`);
  check(hostIpEnv?.valueFrom?.fieldRef?.fieldPath === "status.hostIP", CW, "env HOST_IP must come from status.hostIP");
  const image = c.image ?? "";
  check(/:[A-Za-z0-9_.-]+$/.test(image) && !image.endsWith(":latest"), CW, `image ${image} needs a version tag`);
  check(image.endsWith(`:${cmakeVersion}`), CW, `image tag should be the project version ${cmakeVersion}: ${image}`);

  // --- configuration ------------------------------------------------------------------------
  const cfgVol = (pod.volumes ?? []).find((v) => v.configMap);
  check(cfgVol?.configMap?.name === cm.metadata.name, W,
    `the config volume refers to ConfigMap ${cfgVol?.configMap?.name}, rendered is ${cm.metadata.name}`);
  check((c.volumeMounts ?? []).some((m) => m.name === cfgVol?.name && m.mountPath === "/etc/tcpstate_exporter" && m.readOnly === true),
    CW, "the config volume must be mounted read-only at /etc/tcpstate_exporter (the image's --config.file path)");
  check(/^tcpstate-exporter-config-[a-z0-9]+$/.test(cm.metadata.name), id(cm), "ConfigMap name must carry kustomize's content hash");
  const copyPath = join(root, "deploy/kubernetes/base/tcpstate_exporter.yml");
  const copy = readFileSync(copyPath, "utf8");
  check(isDeepStrictEqual(Object.keys(cm.data ?? {}), ["tcpstate_exporter.yml"]), id(cm), "data must hold tcpstate_exporter.yml only");
  check(cm.data?.["tcpstate_exporter.yml"] === copy, id(cm), "data differs from deploy/kubernetes/base/tcpstate_exporter.yml");

  // --- discovery ------------------------------------------------------------------------------
  check(svc.spec?.clusterIP === "None", id(svc), "the Service must be headless (every exporter is scraped, none load-balanced)");
  check(matches(svc.spec?.selector, podLabels), id(svc), "selector does not select the DaemonSet's pods");
  check(svc.metadata.labels?.["app.kubernetes.io/name"] === APP, id(svc), `label app.kubernetes.io/name must be ${APP} (the job name)`);
  const svcPort = (svc.spec?.ports ?? []).find((p) => p.name === "metrics");
  check(svcPort?.port === 9930 && svcPort.targetPort === "metrics", id(svc), "port metrics must be 9930 with targetPort metrics");

  if (sm) {
    const S = id(sm);
    check(matches(sm.spec?.selector?.matchLabels, svc.metadata.labels), S, "selector does not select the Service");
    check((sm.spec?.namespaceSelector?.matchNames ?? []).includes(NAMESPACE), S, `namespaceSelector must include ${NAMESPACE}`);
    check(svc.metadata.labels?.[sm.spec?.jobLabel] === APP, S,
      `jobLabel ${sm.spec?.jobLabel} must name a Service label whose value is ${APP}: the rules expect job="${APP}"`);
    const eps = sm.spec?.endpoints ?? [];
    check(eps.length === 1 && eps[0].port === "metrics" && (eps[0].path ?? "/metrics") === "/metrics", S,
      "one endpoint, port metrics, path /metrics");
  }
  if (rule) {
    const rulesFile = YAML.parse(readFileSync(join(root, "deploy/prometheus/tcpstate_exporter.rules.yml"), "utf8"));
    check(isDeepStrictEqual(rule.spec, rulesFile), id(rule),
      "spec differs from deploy/prometheus/tcpstate_exporter.rules.yml (run make -C mixin)");
    check((rule.spec?.groups ?? []).length > 0, id(rule), "no rule groups");
  }
}

// The Kubernetes copy of the configuration: the default one, with namespaces.mode all.
function configCopyChecks() {
  const where = "deploy/kubernetes/base/tcpstate_exporter.yml";
  const source = YAML.parse(readFileSync(join(root, "config/tcpstate_exporter.yml"), "utf8"));
  const copy = YAML.parse(readFileSync(join(root, where), "utf8"));
  const expected = structuredClone(source);
  if (expected?.namespaces && typeof expected.namespaces === "object" && "mode" in expected.namespaces) {
    expected.namespaces.mode = "all";
    check(copy?.namespaces?.mode === "all", where, "namespaces.mode must be all (every pod's network namespace)");
  }
  check(isDeepStrictEqual(copy, expected), where,
    "differs from config/tcpstate_exporter.yml beyond namespaces.mode (run deploy/kubernetes/generate.sh)");
}

// The plain-Prometheus example: it must find the DaemonSet's pods and keep the metrics port.
function scrapeConfigChecks(file, ds) {
  const where = file.slice(root.length + 1);
  const cfg = YAML.parse(readFileSync(file, "utf8"));
  const jobs = cfg?.scrape_configs ?? [];
  const job = jobs.find((j) => j.job_name === APP);
  if (!check(!!job, where, `no scrape job named ${APP} (the rules expect job="${APP}")`)) return;
  const sd = job.kubernetes_sd_configs ?? [];
  check(sd.length === 1 && ["pod", "endpoints"].includes(sd[0].role), where, "one kubernetes_sd_configs entry, role pod or endpoints");
  check((sd[0]?.namespaces?.names ?? []).includes(NAMESPACE), where, `kubernetes_sd_configs must be limited to namespace ${NAMESPACE}`);
  const podLabels = ds?.spec?.template?.metadata?.labels ?? {};
  for (const s of sd[0]?.selectors ?? []) {
    for (const term of (s.label ?? "").split(",").filter(Boolean)) {
      const [k, v] = term.split("=");
      check(podLabels[k] === v, where, `selector ${term} does not match the DaemonSet's pods`);
    }
  }
  const known = new Set(["source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"]);
  let keepsPort = false;
  for (const r of job.relabel_configs ?? []) {
    for (const k of Object.keys(r)) check(known.has(k), where, `relabel_config has unknown field ${k}`);
    if (r.regex !== undefined) {
      try { new RegExp(`^(?:${r.regex})$`); } catch (e) { check(false, where, `regex ${r.regex}: ${e.message}`); }
    }
    if (r.action === "keep" && (r.source_labels ?? []).includes("__meta_kubernetes_pod_container_port_name")) {
      const ports = (ds?.spec?.template?.spec?.containers ?? []).flatMap((c) => c.ports ?? []).map((p) => p.name);
      keepsPort = ports.some((p) => new RegExp(`^(?:${r.regex})$`).test(p));
    }
  }
  check(keepsPort, where, "no keep rule on __meta_kubernetes_pod_container_port_name that matches the container's port");
}

// ---------------------------------------------------------------------------------------------
// self-test: the validators must reject known-bad objects

async function selfTest() {
  const good = { apiVersion: "v1", kind: "Service", metadata: { name: "t", namespace: NAMESPACE },
                 spec: { ports: [{ name: "metrics", port: 9930 }] } };
  const badType = structuredClone(good);
  badType.spec.ports[0].port = "not-a-number";
  const badField = structuredClone(good);
  badField.spec.clusterIp = "None"; // misspelt clusterIP
  const unknownKind = { apiVersion: "example.com/v1", kind: "Nonexistent", metadata: { name: "x" } };
  const ok = (await schemaErrors(good)).length === 0;
  const rejType = (await schemaErrors(badType)).length > 0;
  const rejKind = (await schemaErrors(unknownKind)).length > 0;
  const tsErrs = await typeErrors([good, badField]);
  const rejField = tsErrs.length === 1 && tsErrs[0].obj === badField && /clusterIp/.test(tsErrs[0].message);
  const fine = ok && rejType && rejKind && rejField;
  if (!fine) {
    console.log(`self-test FAILED: good accepted ${ok}, wrong type rejected ${rejType}, unknown kind rejected ${rejKind}, ` +
      `unknown field rejected ${rejField} ${JSON.stringify(tsErrs)}`);
  }
  return fine;
}

// ---------------------------------------------------------------------------------------------

if (selfTestWanted) {
  if (!(await selfTest())) process.exit(1);
  console.log("self-test: the validators reject a wrong type, an unknown field and an unknown kind");
}

const all = [];
for (const { name, file } of inputs) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true });
  } catch (e) {
    errors.push(`[${name}] ${file}: ${e.message}`);
    continue;
  }
  const objs = [];
  for (const doc of docs) {
    if (doc.errors.length) { errors.push(`[${name}] YAML: ${doc.errors.map((e) => e.message).join("; ")}`); continue; }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    objs.push(obj);
  }
  for (const obj of objs) {
    for (const e of await schemaErrors(obj)) errors.push(`[${name}] ${id(obj)}: ${e}`);
    checks++;
    apiServerChecks(obj);
  }
  wiringAndSecurity(name, objs);
  console.log(`[${name}] ${objs.length} objects: ${objs.map(id).join(", ")}`);
  all.push(...objs.map((o) => ({ name, o })));
}
if (typesWanted) {
  for (const e of await typeErrors(all.map((x) => x.o))) {
    const name = all.find((x) => x.o === e.obj)?.name ?? "?";
    errors.push(`[${name}] ${e.obj ? id(e.obj) : ""}: ${e.message}`);
  }
  checks += all.length;
}
configCopyChecks();
if (scrapeConfig) scrapeConfigChecks(scrapeConfig, all.find((x) => x.o.kind === "DaemonSet")?.o);

if (errors.length) {
  for (const e of errors) console.log(`  FAILED ${e}`);
  console.log(`validate.mjs: ${errors.length} problem(s) in ${checks} checks`);
  process.exit(1);
}
console.log(`validate.mjs: ${checks} checks passed`);
