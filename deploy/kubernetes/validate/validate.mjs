// Validates the rendered Kubernetes manifests of deploy/kubernetes offline (no API server).
//
//   kubectl kustomize deploy/kubernetes | node validate.mjs [--repo DIR] [--self-test] [FILE|-]
//
// 1. Schema: every object against its Kubernetes schema (kubernetes-models, pinned in
//    package-lock.json): types, enums, required fields. Fields the schema does not know are
//    reported too: kubernetes-models ignores them, and the API server may drop them with no more
//    than a warning (a misspelt `readynessProbe` would mean no readiness probe). A kind without a
//    model here is an error, not a skip.
// 2. basin's own rules, which no schema expresses: the StatefulSet's serviceName is a headless
//    Service that selects its pods; selectors match; every mount names a declared volume or claim
//    and every volume is mounted; the server's flags (args plus the --flagfile from the ConfigMap)
//    are flags basin-server declares, and its ports are the containerPorts that the probes, the
//    Services and the prometheus.io annotations use; terminationGracePeriodSeconds exceeds
//    --drain_grace; the pod runs as the image's non-root user with a read-only root, no
//    privilege escalation, no capabilities, RuntimeDefault seccomp; resources are set and the
//    server's state limit fits in the memory limit; the PodDisruptionBudget covers the pods.
//
// --repo (default: three folders up) is where server/*.cc (the ABSL_FLAG declarations) and the
// Dockerfile (USER) are read. --self-test first validates the input, then breaks it in memory in
// each of the ways above and requires every break to be reported.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Service } from 'kubernetes-models/v1/Service';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';

const MODELS = {
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};
const SERVER_BINARY = '/usr/local/bin/basin-server';
const READINESS_SERVICE = 'basin.v1.Optimizer';
const DATA_DIR = '/var/lib/basin';
// basin-server's defaults (server/server_main.cc) for flags the manifests may leave out.
const FLAG_DEFAULTS = {
  listen: '127.0.0.1:50051',
  metrics_listen: '127.0.0.1:9464',
  drain_grace: '20s',
  max_total_state_bytes: String(16 * 2 ** 30),
};
// Flags every Abseil binary has besides its own.
const ABSL_BUILTIN_FLAGS = new Set(['flagfile', 'fromenv', 'tryfromenv', 'undefok']);

// ---- small parsers ------------------------------------------------------------------------------

// Seconds of an Abseil/Go duration ("20s", "1m30s", "500ms"); NaN if invalid.
export function parseDuration(text) {
  const units = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m;
  const s = String(text).trim();
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * units[m[2]];
    matched = re.lastIndex;
  }
  return s !== '' && matched === s.length ? total : NaN;
}

// A Kubernetes resource quantity ("500m", "2", "4Gi", "1G") as a number; NaN if invalid.
export function parseQuantity(text) {
  const m = /^([+-]?\d+(?:\.\d+)?)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE])|[eE]([+-]?\d+))?$/.exec(String(text));
  if (!m) return NaN;
  const binary = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
  const decimal = { n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  let value = Number(m[1]);
  if (m[2]) value *= binary[m[2]];
  if (m[3]) value *= decimal[m[3]];
  if (m[4]) value *= 10 ** Number(m[4]);
  return value;
}

function portOf(address) {
  const m = /:(\d+)$/.exec(String(address));
  return m ? Number(m[1]) : NaN;
}

function hostOf(address) {
  return String(address).replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
}

function isLoopback(host) {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);
}

// ---- schema validation with unknown-field detection ---------------------------------------------

// The compiled schema validators read each property they know (`data.replicas`) and enumerate the
// keys of free-form maps (labels, ConfigMap data). Running one on a proxy of the object shows which
// keys it never looked at: fields unknown to the schema.
function tracked(value, where, records) {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${where}/${i}`, records));
  const record = { where, keys: Object.keys(value), read: new Set(), enumerated: false };
  records.push(record);
  const copy = {};
  for (const [k, v] of Object.entries(value)) copy[k] = tracked(v, `${where}/${k}`, records);
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === 'string') record.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === 'string') record.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      record.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

export function schemaProblems(obj) {
  const id = `${obj?.kind ?? '?'}/${obj?.metadata?.name ?? '?'}`;
  const Model = MODELS[`${obj?.apiVersion}/${obj?.kind}`];
  if (!Model) {
    return [`${id}: no schema for apiVersion ${obj?.apiVersion} kind ${obj?.kind} (unknown kind)`];
  }
  try {
    new Model(obj).validate();
  } catch (error) {
    return [`${id}: schema: ${error.message}`];
  }
  const records = [];
  const proxy = tracked(obj, '', records);
  try {
    Model.prototype.validate.call(proxy);
  } catch (error) {
    return [`${id}: schema: ${error.message}`];
  }
  const problems = [];
  for (const r of records) {
    if (r.enumerated) continue; // a map: any key is fine
    for (const key of r.keys) {
      if (!r.read.has(key)) problems.push(`${id}: unknown field ${r.where}/${key}`);
    }
  }
  return problems;
}

// ---- basin's rules --------------------------------------------------------------------------------

// Flags basin-server declares: ABSL_FLAG(type, name, ...) in server/**/*.cc.
export function declaredFlags(repo) {
  const flags = new Set();
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(cc|h)$/.test(entry.name)) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/ABSL_FLAG\(\s*[\w:<>, ]+?\s*,\s*(\w+)\s*,/g)) {
          flags.add(m[1]);
        }
      }
    }
  };
  walk(path.join(repo, 'server'));
  return flags;
}

// The uid of the Dockerfile's last USER instruction, or null.
export function dockerfileUid(repo) {
  const file = path.join(repo, 'Dockerfile');
  if (!fs.existsSync(file)) return null;
  const users = [...fs.readFileSync(file, 'utf8').matchAll(/^USER\s+(\d+)/gm)];
  return users.length ? Number(users[users.length - 1][1]) : null;
}

// Resolves a file path inside the container to its content through configMap volume mounts.
function configMapFile(filePath, container, pod, configMaps) {
  for (const mount of container.volumeMounts ?? []) {
    const root = mount.mountPath.replace(/\/$/, '');
    if (!filePath.startsWith(`${root}/`) && filePath !== root) continue;
    const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
    if (!volume?.configMap) continue;
    const cm = configMaps.get(volume.configMap.name);
    if (!cm) return { error: `ConfigMap ${volume.configMap.name} is not among the objects` };
    let key = mount.subPath ?? filePath.slice(root.length + 1);
    if (volume.configMap.items) {
      const item = volume.configMap.items.find((i) => i.path === key);
      if (!item) return { error: `no item of ConfigMap ${cm.metadata.name} is mounted as ${key}` };
      key = item.key;
    }
    const content = cm.data?.[key];
    if (content === undefined) return { error: `ConfigMap ${cm.metadata.name} has no key ${key}` };
    return { content, source: `ConfigMap ${cm.metadata.name} key ${key}` };
  }
  return { error: `${filePath} is not in a configMap volume mount` };
}

// The flags basin-server starts with: args in order, a --flagfile expanded in place (Abseil:
// the last value of a flag wins). Returns { flags: Map, problems }.
function serverFlags(where, container, pod, configMaps, known) {
  const problems = [];
  const flags = new Map();
  const take = (arg, origin, fromFile) => {
    const m = /^--?([\w.-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      problems.push(`${where}: '${arg}' (${origin}) is not a --flag`);
      return;
    }
    let name = m[1];
    if (fromFile && name.includes('-')) {
      problems.push(`${where}: --${name} in ${origin}: basin-server reads flag files without the '-' spelling; write --${name.replaceAll('-', '_')}`);
    }
    name = name.replaceAll('-', '_');
    if (name === 'flagfile') {
      if (fromFile) {
        problems.push(`${where}: nested --flagfile in ${origin}`);
        return;
      }
      const file = configMapFile(m[2] ?? '', container, pod, configMaps);
      if (file.error) {
        problems.push(`${where}: --flagfile=${m[2]}: ${file.error}`);
        return;
      }
      for (const line of file.content.split('\n')) {
        const text = line.trim();
        if (text && !text.startsWith('#')) take(text, file.source, true);
      }
      return;
    }
    if (!known.has(name) && !ABSL_BUILTIN_FLAGS.has(name)) {
      problems.push(`${where}: --${name} (${origin}) is not a flag basin-server declares`);
      return;
    }
    flags.set(name, m[2] ?? 'true');
  };
  for (const arg of container.args ?? []) take(String(arg), 'args', false);
  return { flags, problems };
}

function effective(pod, container, key) {
  return container.securityContext?.[key] ?? pod.securityContext?.[key];
}

export function basinProblems(objects, { knownFlags, imageUid }) {
  const problems = [];
  const byKind = (kind) => objects.filter((o) => o?.kind === kind);
  const configMaps = new Map(byKind('ConfigMap').map((c) => [c.metadata?.name, c]));
  const services = byKind('Service');
  const statefulSets = byKind('StatefulSet');
  const usedConfigMaps = new Set();
  const podTemplates = [];

  if (statefulSets.length === 0) problems.push('no StatefulSet');
  for (const sts of statefulSets) {
    const id = `StatefulSet/${sts.metadata?.name}`;
    const spec = sts.spec ?? {};
    const pod = spec.template?.spec ?? {};
    const podLabels = spec.template?.metadata?.labels ?? {};
    const annotations = spec.template?.metadata?.annotations ?? {};
    podTemplates.push({ id, labels: podLabels, pod, replicas: spec.replicas ?? 1 });

    if (!matches(spec.selector?.matchLabels, podLabels) || !Object.keys(spec.selector?.matchLabels ?? {}).length) {
      problems.push(`${id}: selector.matchLabels does not match the pod template's labels`);
    }
    if ((spec.replicas ?? 1) < 2) problems.push(`${id}: replicas ${spec.replicas ?? 1}: a PodDisruptionBudget of one needs at least 2`);
    if (spec.podManagementPolicy !== 'Parallel') {
      problems.push(`${id}: podManagementPolicy must be Parallel (replicas are independent)`);
    }

    // serviceName: a headless Service that selects these pods.
    const governing = services.find((s) => s.metadata?.name === spec.serviceName);
    if (!governing) {
      problems.push(`${id}: serviceName '${spec.serviceName}' names no Service among the objects`);
    } else {
      if (governing.spec?.clusterIP !== 'None') problems.push(`${id}: Service ${spec.serviceName} is not headless (clusterIP: None)`);
      if (governing.spec?.publishNotReadyAddresses === true) {
        problems.push(`${id}: Service ${spec.serviceName} publishes not-ready (draining) pods`);
      }
      if (!matches(governing.spec?.selector, podLabels)) {
        problems.push(`${id}: Service ${spec.serviceName}'s selector does not select the pods`);
      }
    }

    // Volumes: every mount declared, every declaration mounted, the data dir on a claim.
    const claims = new Set((spec.volumeClaimTemplates ?? []).map((c) => c.metadata?.name));
    const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
    for (const name of claims) if (volumes.has(name)) problems.push(`${id}: '${name}' is both a volume and a claim template`);
    const mounted = new Set();
    for (const v of pod.volumes ?? []) {
      if (v.configMap) {
        usedConfigMaps.add(v.configMap.name);
        if (!configMaps.has(v.configMap.name) && !v.configMap.optional) {
          problems.push(`${id}: volume ${v.name}: ConfigMap ${v.configMap.name} is not among the objects`);
        }
      }
    }
    const containers = pod.containers ?? [];
    for (const c of [...containers, ...(pod.initContainers ?? [])]) {
      const paths = new Set();
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name) && !claims.has(m.name)) {
          problems.push(`${id}: container ${c.name} mounts '${m.name}', which is neither a volume nor a claim template`);
        }
        if (paths.has(m.mountPath)) problems.push(`${id}: container ${c.name} mounts two volumes at ${m.mountPath}`);
        paths.add(m.mountPath);
        mounted.add(m.name);
      }
    }
    for (const name of [...volumes, ...claims]) {
      if (!mounted.has(name)) problems.push(`${id}: volume or claim '${name}' is mounted by no container`);
    }

    const server = containers.find((c) => (c.command ?? [SERVER_BINARY])[0] === SERVER_BINARY && c.image);
    if (!server) {
      problems.push(`${id}: no container runs ${SERVER_BINARY} (the image's entrypoint)`);
      continue;
    }
    const cid = `${id} container ${server.name}`;
    const dataMount = (server.volumeMounts ?? []).find((m) => m.mountPath === DATA_DIR);
    if (!dataMount || !claims.has(dataMount.name)) {
      problems.push(`${cid}: ${DATA_DIR} (the server's data) must be a volumeClaimTemplate, one volume per replica`);
    }

    // Image: the kustomize images: entry applied, a fixed tag.
    const image = String(server.image);
    const tag = image.includes('@') ? 'digest' : image.split('/').pop().split(':')[1];
    if (!tag || tag === 'latest') problems.push(`${cid}: image '${image}' has no fixed tag (kustomize images: not applied?)`);

    // Ports, flags, probes, annotations.
    const ports = server.ports ?? [];
    const portNames = new Map(ports.map((p) => [p.name, p.containerPort]));
    const portNumbers = new Set(ports.map((p) => p.containerPort));
    if (portNames.size !== ports.length || portNumbers.size !== ports.length) {
      problems.push(`${cid}: containerPorts must have unique names and numbers`);
    }
    const { flags, problems: flagProblems } = serverFlags(cid, server, pod, configMaps, knownFlags);
    problems.push(...flagProblems);
    const flag = (name) => flags.get(name) ?? FLAG_DEFAULTS[name];
    const listenPort = portOf(flag('listen'));
    const metricsListen = flag('metrics_listen');
    const metricsPort = portOf(metricsListen);
    if (isLoopback(hostOf(flag('listen')))) problems.push(`${cid}: --listen=${flag('listen')} is unreachable from outside the pod`);
    if (portNames.get('grpc') !== listenPort) {
      problems.push(`${cid}: containerPort 'grpc' (${portNames.get('grpc')}) is not the --listen port ${listenPort}`);
    }
    if (annotations['prometheus.io/scrape'] !== 'true') problems.push(`${id}: pod annotation prometheus.io/scrape is not "true"`);
    if ((annotations['prometheus.io/path'] ?? '/metrics') !== '/metrics') problems.push(`${id}: prometheus.io/path is not /metrics`);
    if (metricsListen === 'none' || isLoopback(hostOf(metricsListen))) {
      problems.push(`${cid}: --metrics_listen=${metricsListen}: Prometheus cannot scrape it`);
    }
    if (portNames.get('metrics') !== metricsPort) {
      problems.push(`${cid}: containerPort 'metrics' (${portNames.get('metrics')}) is not the --metrics_listen port ${metricsPort}`);
    }
    if (Number(annotations['prometheus.io/port']) !== metricsPort) {
      problems.push(`${id}: prometheus.io/port '${annotations['prometheus.io/port']}' is not the metrics port ${metricsPort}`);
    }

    const probePort = (probe, name) => {
      const action = probe.grpc ?? probe.httpGet ?? probe.tcpSocket;
      if (!action) return;
      const p = action.port;
      const known = typeof p === 'number' ? portNumbers.has(p) : portNames.has(p);
      if (!known) problems.push(`${cid}: ${name} probes port ${p}, which is no containerPort`);
      if (probe.grpc && p !== listenPort) problems.push(`${cid}: ${name} probes gRPC on ${p}, the server listens on ${listenPort}`);
    };
    const { readinessProbe: ready, livenessProbe: live, startupProbe: startup } = server;
    if (!ready) problems.push(`${cid}: no readinessProbe`);
    if (!live) problems.push(`${cid}: no livenessProbe`);
    if (ready) {
      probePort(ready, 'readinessProbe');
      if (ready.grpc?.service !== READINESS_SERVICE) {
        problems.push(`${cid}: readinessProbe must ask the health of ${READINESS_SERVICE} (NOT_SERVING while draining)`);
      }
    }
    if (live) {
      probePort(live, 'livenessProbe');
      if (!live.grpc || (live.grpc.service ?? '') !== '') {
        problems.push(`${cid}: livenessProbe must be gRPC health of the server as a whole (service "")`);
      }
    }
    if (startup) probePort(startup, 'startupProbe');
    const patience = (p) => (p?.periodSeconds ?? 10) * (p?.failureThreshold ?? 3);
    if (ready && live && patience(live) < patience(ready)) {
      problems.push(`${cid}: livenessProbe gives up (${patience(live)}s) sooner than readinessProbe (${patience(ready)}s)`);
    }
    for (const [name, probe] of [['readinessProbe', ready], ['livenessProbe', live], ['startupProbe', startup]]) {
      if (probe && (probe.timeoutSeconds ?? 1) >= (probe.periodSeconds ?? 10)) {
        problems.push(`${cid}: ${name} timeoutSeconds must be shorter than periodSeconds`);
      }
    }

    // Drain: the kubelet's SIGKILL must come after the server's own deadline.
    const drain = parseDuration(flag('drain_grace'));
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (Number.isNaN(drain)) problems.push(`${cid}: --drain_grace=${flag('drain_grace')} is no duration`);
    else if (!(grace > drain)) {
      problems.push(`${id}: terminationGracePeriodSeconds ${grace} must exceed --drain_grace=${flag('drain_grace')} (${drain}s), or draining pods are killed`);
    }

    // Security.
    if (effective(pod, server, 'runAsNonRoot') !== true) problems.push(`${cid}: runAsNonRoot is not true`);
    const uid = effective(pod, server, 'runAsUser');
    if (uid === 0) problems.push(`${cid}: runAsUser 0`);
    if (imageUid !== null && uid !== undefined && uid !== imageUid) {
      problems.push(`${cid}: runAsUser ${uid} is not the image's USER ${imageUid} (Dockerfile)`);
    }
    const fsGroup = pod.securityContext?.fsGroup;
    if (imageUid !== null && fsGroup === undefined) problems.push(`${id}: no fsGroup: the volume may not be writable by uid ${uid ?? imageUid}`);
    const sc = server.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${cid}: readOnlyRootFilesystem is not true`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${cid}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) problems.push(`${cid}: privileged`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${cid}: capabilities.drop does not contain ALL`);
    if ((sc.capabilities?.add ?? []).length) problems.push(`${cid}: capabilities.add is not empty`);
    const seccomp = effective(pod, server, 'seccompProfile')?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') problems.push(`${cid}: seccompProfile is not RuntimeDefault`);
    if (sc.readOnlyRootFilesystem === true && !(server.volumeMounts ?? []).some((m) => m.mountPath === '/tmp')) {
      problems.push(`${cid}: read-only root filesystem without a volume at /tmp`);
    }

    // Resources, and the server's own state limit inside the memory limit.
    const res = server.resources ?? {};
    for (const kind of ['requests', 'limits']) {
      for (const r of ['cpu', 'memory']) {
        if (res[kind]?.[r] === undefined) problems.push(`${cid}: resources.${kind}.${r} is not set`);
        else if (Number.isNaN(parseQuantity(res[kind][r]))) problems.push(`${cid}: resources.${kind}.${r} '${res[kind][r]}' is no quantity`);
      }
    }
    for (const r of ['cpu', 'memory']) {
      if (parseQuantity(res.requests?.[r]) > parseQuantity(res.limits?.[r])) {
        problems.push(`${cid}: resources.requests.${r} exceeds the limit`);
      }
    }
    const stateBytes = Number(flag('max_total_state_bytes'));
    const memoryLimit = parseQuantity(res.limits?.memory);
    if (!(stateBytes < memoryLimit)) {
      problems.push(`${cid}: --max_total_state_bytes=${flag('max_total_state_bytes')} does not fit in the memory limit ${res.limits?.memory}: the pod would be OOM-killed before the server refuses sessions`);
    }
  }

  // Services: select some pods, and point at ports those pods have.
  for (const svc of services) {
    const id = `Service/${svc.metadata?.name}`;
    const target = podTemplates.find((t) => matches(svc.spec?.selector, t.labels) && Object.keys(svc.spec?.selector ?? {}).length);
    if (!target) {
      problems.push(`${id}: its selector selects no pod template`);
      continue;
    }
    const ports = (target.pod.containers ?? []).flatMap((c) => c.ports ?? []);
    for (const p of svc.spec?.ports ?? []) {
      const t = p.targetPort ?? p.port;
      const ok = typeof t === 'number' ? ports.some((c) => c.containerPort === t) : ports.some((c) => c.name === t);
      if (!ok) problems.push(`${id}: port ${p.name}: targetPort ${t} is no containerPort of ${target.id}`);
    }
  }

  // PodDisruptionBudgets: cover the pods, allow one down at a time.
  const pdbs = byKind('PodDisruptionBudget');
  for (const t of podTemplates) {
    if (!pdbs.some((p) => matches(p.spec?.selector?.matchLabels, t.labels))) problems.push(`${t.id}: no PodDisruptionBudget selects its pods`);
  }
  for (const pdb of pdbs) {
    const id = `PodDisruptionBudget/${pdb.metadata?.name}`;
    const target = podTemplates.find((t) => matches(pdb.spec?.selector?.matchLabels, t.labels) && Object.keys(pdb.spec?.selector?.matchLabels ?? {}).length);
    if (!target) problems.push(`${id}: its selector selects no pod template`);
    if (pdb.spec?.minAvailable !== undefined) problems.push(`${id}: use maxUnavailable, not minAvailable (it keeps working when replicas change)`);
    if (pdb.spec?.maxUnavailable !== 1) problems.push(`${id}: maxUnavailable must be 1`);
    else if (target && target.replicas <= 1) problems.push(`${id}: maxUnavailable 1 of ${target.replicas} replica(s) allows a full outage`);
  }

  for (const name of configMaps.keys()) {
    if (!usedConfigMaps.has(name)) problems.push(`ConfigMap/${name}: used by no pod`);
  }
  return problems;
}

export function validateAll(objects, context) {
  const problems = [];
  for (const obj of objects) problems.push(...schemaProblems(obj));
  problems.push(...basinProblems(objects, context));
  return problems;
}

// ---- self-test: each break must be reported ------------------------------------------------------

function selfTest(objects, context) {
  const find = (objs, kind) => objs.find((o) => o.kind === kind);
  const sts = (o) => find(o, 'StatefulSet');
  const pod = (o) => sts(o).spec.template.spec;
  const server = (o) => pod(o).containers[0];
  const cm = (o) => find(o, 'ConfigMap');
  const flagFile = (o) => Object.keys(cm(o).data)[0];
  const editFlags = (o, edit) => {
    const key = flagFile(o);
    cm(o).data[key] = edit(cm(o).data[key]);
  };
  const cases = [
    ['unknown kind', (o) => o.push({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } }), 'unknown kind'],
    ['wrong type', (o) => { sts(o).spec.replicas = 'three'; }, 'must be integer'],
    ['missing required field', (o) => { delete server(o).ports[0].containerPort; }, 'must have required property containerPort'],
    ['misspelt field', (o) => { server(o).readynessProbe = server(o).readinessProbe; delete server(o).readinessProbe; }, 'unknown field /spec/template/spec/containers/0/readynessProbe'],
    ['serviceName names nothing', (o) => { sts(o).spec.serviceName = 'basin-headless'; }, "serviceName 'basin-headless' names no Service"],
    ['Service not headless', (o) => { delete find(o, 'Service').spec.clusterIP; }, 'is not headless'],
    ['not-ready pods published', (o) => { find(o, 'Service').spec.publishNotReadyAddresses = true; }, 'publishes not-ready'],
    ['selector misses the pods', (o) => { sts(o).spec.selector.matchLabels['app.kubernetes.io/name'] = 'other'; }, 'selector.matchLabels does not match'],
    ['mount of an undeclared volume', (o) => { server(o).volumeMounts[0].name = 'datta'; }, "mounts 'datta'"],
    ['volume nobody mounts', (o) => { pod(o).volumes.push({ name: 'spare', emptyDir: {} }); }, "'spare' is mounted by no container"],
    ['data dir not on a claim', (o) => { pod(o).volumes.push({ name: 'scratch', emptyDir: {} }); server(o).volumeMounts[0].name = 'scratch'; }, 'must be a volumeClaimTemplate'],
    ['probe on a missing port', (o) => { server(o).livenessProbe.grpc.port = 50052; }, 'probes port 50052, which is no containerPort'],
    ['readiness ignores draining', (o) => { delete server(o).readinessProbe.grpc.service; }, `must ask the health of ${READINESS_SERVICE}`],
    ['liveness on the service', (o) => { server(o).livenessProbe.grpc.service = READINESS_SERVICE; }, 'livenessProbe must be gRPC health of the server as a whole'],
    ['no readiness probe', (o) => { delete server(o).readinessProbe; }, 'no readinessProbe'],
    ['grace below drain', (o) => { pod(o).terminationGracePeriodSeconds = 20; }, 'must exceed --drain_grace'],
    ['drain above grace', (o) => editFlags(o, (t) => `${t}\n--drain_grace=45s\n`), 'must exceed --drain_grace=45s'],
    ['unknown flag', (o) => editFlags(o, (t) => `${t}\n--max_sesions=10\n`), '--max_sesions (ConfigMap'],
    ['dash spelling in the flag file', (o) => editFlags(o, (t) => t.replace('--metrics_listen=', '--metrics-listen=')), "without the '-' spelling"],
    ['flag file not mounted', (o) => { server(o).args = ['--flagfile=/etc/other/basin-server.flags']; }, 'is not in a configMap volume mount'],
    ['gRPC port not the listen port', (o) => editFlags(o, (t) => t.replace('--listen=0.0.0.0:50051', '--listen=0.0.0.0:6000')), 'is not the --listen port 6000'],
    ['server on loopback', (o) => editFlags(o, (t) => t.replace('--listen=0.0.0.0:50051', '--listen=127.0.0.1:50051')), 'unreachable from outside the pod'],
    ['scrape port elsewhere', (o) => { sts(o).spec.template.metadata.annotations['prometheus.io/port'] = '9090'; }, "prometheus.io/port '9090'"],
    ['metrics off', (o) => editFlags(o, (t) => t.replace('--metrics_listen=0.0.0.0:9464', '--metrics_listen=none')), 'Prometheus cannot scrape it'],
    ['Service targets a missing port', (o) => { find(o, 'Service').spec.ports[0].targetPort = 'grpcc'; }, 'targetPort grpcc is no containerPort'],
    ['root user', (o) => { pod(o).securityContext.runAsUser = 0; }, 'runAsUser 0'],
    ['user not the image user', (o) => { pod(o).securityContext.runAsUser = 1000; }, "is not the image's USER"],
    ['writable root', (o) => { server(o).securityContext.readOnlyRootFilesystem = false; }, 'readOnlyRootFilesystem is not true'],
    ['privilege escalation', (o) => { delete server(o).securityContext.allowPrivilegeEscalation; }, 'allowPrivilegeEscalation is not false'],
    ['capabilities kept', (o) => { server(o).securityContext.capabilities.drop = ['NET_RAW']; }, 'capabilities.drop does not contain ALL'],
    ['no seccomp profile', (o) => { delete pod(o).securityContext.seccompProfile; }, 'seccompProfile is not RuntimeDefault'],
    ['no memory limit', (o) => { delete server(o).resources.limits.memory; }, 'resources.limits.memory is not set'],
    ['state limit above memory', (o) => editFlags(o, (t) => t.replace(/--max_total_state_bytes=\d+/, '--max_total_state_bytes=8589934592')), 'does not fit in the memory limit'],
    ['request above limit', (o) => { server(o).resources.requests.cpu = '4'; }, 'resources.requests.cpu exceeds the limit'],
    ['no PDB', (o) => o.splice(o.indexOf(find(o, 'PodDisruptionBudget')), 1), 'no PodDisruptionBudget selects'],
    ['PDB minAvailable', (o) => { const p = find(o, 'PodDisruptionBudget'); delete p.spec.maxUnavailable; p.spec.minAvailable = 2; }, 'use maxUnavailable'],
    ['single replica', (o) => { sts(o).spec.replicas = 1; }, 'needs at least 2'],
    ['image not set by kustomize', (o) => { server(o).image = 'basin'; }, 'has no fixed tag'],
    ['ConfigMap missing', (o) => o.splice(o.indexOf(cm(o)), 1), 'is not among the objects'],
    ['probe timeout too long', (o) => { server(o).readinessProbe.timeoutSeconds = 5; }, 'timeoutSeconds must be shorter'],
  ];
  let failed = 0;
  for (const [name, mutate, expected] of cases) {
    const broken = structuredClone(objects);
    mutate(broken);
    const problems = validateAll(broken, context);
    if (problems.some((p) => p.includes(expected))) {
      console.log(`self-test: ${name}: reported`);
    } else {
      failed++;
      console.log(`self-test: ${name}: NOT reported (wanted '${expected}')\n  got: ${problems.join('\n       ') || 'nothing'}`);
    }
  }
  console.log(`self-test: ${cases.length - failed}/${cases.length} breaks reported`);
  return failed === 0;
}

// ---- main ---------------------------------------------------------------------------------------

async function main(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  let repo = path.resolve(here, '..', '..', '..');
  let input = '-';
  let runSelfTest = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--self-test') runSelfTest = true;
    else if (a === '--repo') repo = path.resolve(argv[++i] ?? '');
    else if (a.startsWith('--repo=')) repo = path.resolve(a.slice(7));
    else if (a === '-h' || a === '--help') {
      console.log('usage: node validate.mjs [--repo DIR] [--self-test] [FILE|-]  (FILE: kubectl kustomize output)');
      return 0;
    } else if (a.startsWith('--')) {
      console.error(`validate.mjs: unknown option ${a}`);
      return 2;
    } else input = a;
  }
  const text = fs.readFileSync(input === '-' ? 0 : input, 'utf8');
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      console.log(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
      return 1;
    }
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) objects.push(obj);
  }
  if (objects.length === 0) {
    console.log('no objects in the input');
    return 1;
  }
  const context = { knownFlags: declaredFlags(repo), imageUid: dockerfileUid(repo) };
  if (context.knownFlags.size === 0) {
    console.log(`no ABSL_FLAG declarations under ${path.join(repo, 'server')}: wrong --repo?`);
    return 1;
  }
  const problems = validateAll(objects, context);
  for (const p of problems) console.log(p);
  const summary = objects.map((o) => `${o.kind}/${o.metadata?.name}`).join(', ');
  if (problems.length) {
    console.log(`${problems.length} problem(s) in ${objects.length} objects`);
    return 1;
  }
  console.log(`OK: ${objects.length} objects (${summary}); schema and basin checks pass`);
  if (runSelfTest) return selfTest(objects, context) ? 0 : 1;
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
