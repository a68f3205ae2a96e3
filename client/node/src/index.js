// @basin/client: a Node.js client for basin.v1 (docs/protocol.md).
//
// The .proto files are loaded at run time (no generated code). Tensors travel as raw
// little-endian f32 bytes in TensorChunks of at most 1 MiB; one bidirectional Train stream per
// Session carries the ask/tell ticks, read through a small promise queue.
import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));
const BUNDLED_PROTO_DIR = path.join(here, '..', 'proto');  // grpc/health/v1/health.proto
const LITTLE_ENDIAN = endianness() === 'LE';

export const DEFAULT_CHUNK_BYTES = 1 << 20;
const F32 = 4;

/** Status names by numeric gRPC code. */
export const StatusName = Object.freeze(
  Object.fromEntries(Object.entries(grpc.status).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v, k])));
export const Status = grpc.status;

// --- errors --------------------------------------------------------------------------------------

/** A failed call: `.code` is the numeric gRPC status, `.codeName` its name, `.message` the server's. */
export class BasinError extends Error {
  constructor(code, message, { cause, metadata } = {}) {
    const name = StatusName[code] ?? `CODE_${code}`;
    super(message, cause ? { cause } : undefined);
    this.name = 'BasinError';
    this.code = code;
    this.codeName = name;
    this.details = message;
    this.metadata = metadata;
  }
  toString() { return `BasinError: ${this.codeName}: ${this.message}`; }
}

function toBasinError(err) {
  if (err instanceof BasinError) return err;
  if (err && typeof err.code === 'number') {
    return new BasinError(err.code, err.details ?? err.message, { cause: err, metadata: err.metadata });
  }
  return new BasinError(grpc.status.UNKNOWN, String(err?.message ?? err), { cause: err });
}

// --- proto loading and plain-object conversion ---------------------------------------------------

const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

function defaultProtoDir() {
  if (process.env.BASIN_PROTO_DIR) return process.env.BASIN_PROTO_DIR;
  // client/node/src → the repository's proto/; an installed copy may carry its own proto/.
  for (const dir of [path.join(here, '..', '..', '..', 'proto'), BUNDLED_PROTO_DIR]) {
    if (existsSync(path.join(dir, 'basin', 'v1', 'optimizer_service.proto'))) return dir;
  }
  return path.join(here, '..', '..', '..', 'proto');
}

const protoCache = new Map();

/** Loads basin.v1 (and grpc.health.v1) from `protoDir`; cached per directory. */
export function loadProtos(protoDir = defaultProtoDir()) {
  let loaded = protoCache.get(protoDir);
  if (loaded) return loaded;
  const includeDirs = [protoDir, BUNDLED_PROTO_DIR, '/usr/share/grpc-proto'];
  const definition = protoLoader.loadSync(
    ['basin/v1/optimizer_service.proto', 'grpc/health/v1/health.proto'], { ...LOADER_OPTIONS, includeDirs });
  const pkg = grpc.loadPackageDefinition(definition);
  loaded = { definition, Optimizer: pkg.basin.v1.Optimizer, Health: pkg.grpc.health.v1.Health, protoDir };
  protoCache.set(protoDir, loaded);
  return loaded;
}

function snakeCase(key) {
  return key.replace(/([a-z0-9])([A-Z])/g, (_, a, b) => `${a}_${b.toLowerCase()}`);
}
function camelCase(key) {
  return key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

// Finds a message or enum descriptor named `typeName` as seen from message `scope`.
function resolveType(definition, scope, typeName) {
  if (typeName.startsWith('.')) typeName = typeName.slice(1);
  const parts = scope.split('.');
  for (let n = parts.length; n >= 0; --n) {
    const prefix = parts.slice(0, n).join('.');
    const full = prefix ? `${prefix}.${typeName}` : typeName;
    if (definition[full]) return { full, descriptor: definition[full].type };
    // Nested enums and messages live in their parent's descriptor.
    const parent = definition[prefix]?.type;
    if (parent) {
      const e = parent.enumType?.find((t) => t.name === typeName);
      if (e) return { full, descriptor: e, isEnum: true };
      const m = parent.nestedType?.find((t) => t.name === typeName);
      if (m) return { full, descriptor: m };
    }
  }
  throw new TypeError(`basin client: unknown proto type ${typeName} (from ${scope})`);
}

function enumValue(descriptor, value, where) {
  if (typeof value === 'number') return value;
  const names = descriptor.value.map((v) => v.name);
  const upper = String(value).toUpperCase();
  const match = names.find((n) => n === upper) ?? names.find((n) => n.endsWith(`_${upper}`));
  if (!match) throw new TypeError(`basin client: ${where} must be one of ${names.join(', ')}; got ${JSON.stringify(value)}`);
  return match;
}

/**
 * Converts a user object (camelCase or snake_case keys, short enum names such as 'lua' or 'f64')
 * into the plain object of message `typeName`, refusing unknown fields so that a typo is an error
 * rather than a silently ignored setting.
 */
export function toMessage(definition, typeName, value, where = typeName) {
  const descriptor = definition[typeName]?.type;
  if (!descriptor) throw new TypeError(`basin client: unknown message ${typeName}`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`basin client: ${where} must be an object, got ${JSON.stringify(value)}`);
  }
  const out = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const field = descriptor.field.find((f) => f.name === key || f.name === snakeCase(key));
    if (!field) {
      const known = descriptor.field.map((f) => camelCase(f.name)).join(', ');
      throw new TypeError(`basin client: ${where} has no field ${JSON.stringify(key)} (known: ${known})`);
    }
    const label = `${where}.${camelCase(field.name)}`;
    const convert = (x) => {
      if (field.type === 'TYPE_MESSAGE') {
        const t = resolveType(definition, typeName, field.typeName);
        return toMessage(definition, t.full, x, label);
      }
      if (field.type === 'TYPE_ENUM') {
        return enumValue(resolveType(definition, typeName, field.typeName).descriptor, x, label);
      }
      if (typeof x === 'bigint') return x.toString();
      return x;
    };
    out[field.name] = field.label === 'LABEL_REPEATED' ? Array.from(v, convert) : convert(v);
  }
  return out;
}

// Decoded message → camelCase plain object (drops proto3-optional's synthetic `_x` oneof keys).
function fromMessage(value) {
  if (Array.isArray(value)) return value.map(fromMessage);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (k.startsWith('_')) continue;
    if (v === null || v === undefined) continue;
    out[camelCase(k)] = fromMessage(v);
  }
  return out;
}

// --- optimizer helpers ---------------------------------------------------------------------------

/** `{sgd: {...}}` etc.; each takes the fields of its config message (camelCase or snake_case). */
export const SGD = (config = {}) => ({ sgd: config });
export const SGLD = (config = {}) => ({ sgld: config });
export const SAM = (config = {}) => ({ sam: config });
export const EntropySGD = (config = {}) => ({ entropySgd: config });
export const EMCMC = (config = {}) => ({ emcmc: config });

// --- tensors -------------------------------------------------------------------------------------

function sizeOf(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function asFloat32(data) {
  if (data instanceof Float32Array) return data;
  return Float32Array.from(data);
}

// Raw little-endian bytes of `f32[begin, end)`, as a Buffer sharing memory where possible.
function f32Bytes(f32, begin, end) {
  if (LITTLE_ENDIAN) return Buffer.from(f32.buffer, f32.byteOffset + begin * F32, (end - begin) * F32);
  const out = Buffer.allocUnsafe((end - begin) * F32);
  for (let i = begin; i < end; ++i) out.writeFloatLE(f32[i], (i - begin) * F32);
  return out;
}

// Copies little-endian f32 bytes into `target` from element `offset`.
function decodeInto(target, offset, bytes, tensor) {
  if (bytes.length % F32 !== 0) throw new BasinError(grpc.status.INTERNAL, `chunk of ${tensor} has ${bytes.length} bytes, not a whole number of f32`);
  const n = bytes.length / F32;
  if (offset < 0 || offset + n > target.length) {
    throw new BasinError(grpc.status.INTERNAL, `chunk of ${tensor} runs past its ${target.length} elements`);
  }
  if (LITTLE_ENDIAN) {
    new Uint8Array(target.buffer, target.byteOffset + offset * F32, bytes.length).set(bytes);
  } else {
    for (let i = 0; i < n; ++i) target[offset + i] = bytes.readFloatLE(i * F32);
  }
}

/**
 * Normalises user tensors: `{name: Float32Array}` (1-D), `{name: {shape, data?}}`, or a Map /
 * array of [name, tensor] entries (for names that look like integers, whose key order JS objects
 * do not keep).
 */
function normaliseTensors(params) {
  const entries = params instanceof Map ? [...params.entries()] : Array.isArray(params) ? params : Object.entries(params ?? {});
  return entries.map(([name, t]) => {
    if (ArrayBuffer.isView(t) || Array.isArray(t)) return { name, shape: [t.length], data: asFloat32(t) };
    if (t && typeof t === 'object') {
      const data = t.data === undefined || t.data === null ? undefined : asFloat32(t.data);
      const shape = t.shape ? Array.from(t.shape, Number) : data ? [data.length] : [];
      return { name, shape, data };
    }
    if (typeof t === 'number') return { name, shape: [], data: Float32Array.of(t) };
    throw new TypeError(`basin client: tensor ${name} must be a Float32Array, an array or {shape, data}`);
  });
}

// TensorChunks (f32) covering `tensors` ([{name, data}]) in order, each at most `chunkBytes`.
function* chunksOf(tensors, chunkBytes) {
  const per = Math.max(1, Math.floor(chunkBytes / F32));
  for (const { name, data } of tensors) {
    for (let begin = 0; begin < data.length; begin += per) {
      const end = Math.min(data.length, begin + per);
      yield { tensor: name, offset: begin, dtype: 'DTYPE_F32', data: f32Bytes(data, begin, end) };
    }
  }
}

// Layout of a Session message: [{name, shape, size, offset}] with offsets into one flat array.
function layoutOf(session) {
  let offset = 0;
  return (session.spec?.tensors ?? []).map((t) => {
    const shape = t.shape.map(Number);
    const size = sizeOf(shape);
    const entry = { name: t.name, shape, size, offset };
    offset += size;
    return entry;
  });
}

// A fresh flat buffer plus per-tensor views: {flat, params: {name: {shape, data}}}.
function allocate(layout) {
  const total = layout.reduce((a, t) => a + t.size, 0);
  const flat = new Float32Array(total);
  const params = {};
  const byName = new Map();
  for (const t of layout) {
    const data = flat.subarray(t.offset, t.offset + t.size);
    params[t.name] = { shape: t.shape.slice(), data };
    byName.set(t.name, data);
  }
  return { flat, params, byName };
}

// --- a small async queue of stream events ---------------------------------------------------------

class AsyncQueue {
  #items = [];
  #waiters = [];
  #error = null;
  #ended = false;

  push(item) {
    const w = this.#waiters.shift();
    if (w) w.resolve(item); else this.#items.push(item);
  }
  fail(error) {
    if (this.#error || this.#ended) return;
    this.#error = error;
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }
  end() {
    if (this.#error || this.#ended) return;
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.resolve(undefined);
  }
  /** The next item; `undefined` after a clean end; rejects after an error. */
  next() {
    if (this.#items.length) return Promise.resolve(this.#items.shift());
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
}

// TLS channel credentials from PEM files; a client certificate needs its key and the reverse.
// (tls.serverName becomes a channel option in the Client constructor.)
function tlsCredentials({ rootCert, cert, key, serverName: _serverName, ...rest }) {
  const unknown = Object.keys(rest);
  if (unknown.length) throw new TypeError(`basin client: tls has no option ${unknown.join(', ')}`);
  if (!cert !== !key) throw new TypeError('basin client: tls.cert and tls.key go together (mutual TLS)');
  return grpc.credentials.createSsl(rootCert ? readFileSync(rootCert) : null, key ? readFileSync(key) : null,
                                    cert ? readFileSync(cert) : null);
}

// --- the Train stream ------------------------------------------------------------------------------

class TrainStream {
  constructor(stub, sessionId, layout, { workerId = 0, chunkBytes = DEFAULT_CHUNK_BYTES, deadline, metadata } = {}) {
    this.layout = layout;
    this.chunkBytes = chunkBytes;
    this.queue = new AsyncQueue();
    this.lastQueryTick = null;
    this.lastAck = null;
    this.failed = null;
    this.call = stub.Train(metadata ?? new grpc.Metadata(), deadline ? { deadline } : {});
    this.status = new Promise((resolve) => this.call.on('status', resolve));
    this.call.on('data', (m) => this.queue.push(m));
    this.call.on('error', (e) => { this.failed = toBasinError(e); this.queue.fail(this.failed); });
    this.call.on('end', () => this.queue.end());
    this.call.write({ attach: { session_id: sessionId, worker_id: workerId, query_dtype: 'DTYPE_F32', max_chunk_bytes: chunkBytes } });
  }

  async #next(what) {
    const m = await this.queue.next();
    if (m === undefined) {
      const st = await this.status;
      if (st.code !== grpc.status.OK) throw toBasinError(st);
      throw new BasinError(grpc.status.UNAVAILABLE, `the Train stream ended while waiting for ${what}`);
    }
    return m;
  }

  async query() {
    let point = null;
    for (;;) {
      const m = await this.#next('a query point');
      if (m.kind === 'ack') { this.lastAck = m.ack; continue; }
      const q = m.query;
      if (!point) point = { tick: q.tick, step: q.step, phase: q.phase, minibatchKey: q.minibatch_key, ...allocate(this.layout) };
      if (q.tick !== point.tick) throw new BasinError(grpc.status.INTERNAL, `query chunk of tick ${q.tick} inside tick ${point.tick}`);
      if (q.chunk && q.chunk.data.length) {
        if (q.chunk.dtype !== 'DTYPE_F32') throw new BasinError(grpc.status.INTERNAL, `query chunk in ${q.chunk.dtype}, asked for F32`);
        const target = point.byName.get(q.chunk.tensor);
        if (!target) throw new BasinError(grpc.status.INTERNAL, `query chunk of unknown tensor ${q.chunk.tensor}`);
        decodeInto(target, q.chunk.offset, q.chunk.data, q.chunk.tensor);
      }
      if (q.last) break;
    }
    this.lastQueryTick = point.tick;
    return { tick: point.tick, step: point.step, phase: point.phase, minibatchKey: point.minibatchKey, params: point.params, values: point.flat };
  }

  // Sends the gradient's chunks; returns without waiting for the ack.
  send(tick, grads, loss, batchSize) {
    if (this.failed) throw this.failed;
    const tensors = gradientTensors(this.layout, grads);
    const chunks = [...chunksOf(tensors, this.chunkBytes)];
    if (chunks.length === 0) {
      const name = this.layout.length ? this.layout[this.layout.length - 1].name : '';
      chunks.push({ tensor: name, offset: 0, dtype: 'DTYPE_F32', data: Buffer.alloc(0) });
    }
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      this.call.write({ gradient: { tick, chunk, last, loss: last ? loss : 0, batch_size: last ? batchSize : 0 } });
    });
  }

  async waitAck(tick) {
    for (;;) {
      const m = await this.#next(`the ack of tick ${tick}`);
      if (m.kind === 'ack') {
        this.lastAck = m.ack;
        if (m.ack.tick === tick) return m.ack;
      } else {
        throw new BasinError(grpc.status.INTERNAL, `query of tick ${m.query.tick} before the ack of tick ${tick}`);
      }
    }
  }

  async close() {
    this.call.end();
    for (;;) {
      let m;
      try { m = await this.queue.next(); } catch (e) { throw toBasinError(e); }
      if (m === undefined) break;
    }
    const st = await this.status;
    if (st.code !== grpc.status.OK) throw toBasinError(st);
  }

  cancel() { this.call.cancel(); }
}

// The gradient as [{name, data}] in layout order (then any unknown names, which the server
// refuses with INVALID_ARGUMENT, naming them). A flat Float32Array of the layout's total size is
// split by the layout.
function gradientTensors(layout, grads) {
  if (ArrayBuffer.isView(grads) || Array.isArray(grads)) {
    const flat = asFloat32(grads);
    const total = layout.reduce((a, t) => a + t.size, 0);
    if (flat.length !== total) {
      // Let the server judge it: send it all as the first tensor.
      return [{ name: layout[0]?.name ?? '', data: flat }];
    }
    return layout.map((t) => ({ name: t.name, data: flat.subarray(t.offset, t.offset + t.size) }));
  }
  const given = normaliseTensors(grads);
  const byName = new Map(given.map((t) => [t.name, t]));
  const ordered = [];
  for (const t of layout) if (byName.has(t.name)) ordered.push(byName.get(t.name));
  for (const t of given) if (!layout.some((l) => l.name === t.name)) ordered.push(t);
  return ordered.map((t) => ({ name: t.name, data: t.data ?? new Float32Array(0) }));
}

// --- Session ---------------------------------------------------------------------------------------

/** One optimizer run on the server, with its own Train stream (worker `workerId`). */
export class Session {
  #client;
  #stream = null;

  constructor(client, info, { workerId = 0, chunkBytes = DEFAULT_CHUNK_BYTES } = {}) {
    this.#client = client;
    this.workerId = workerId;
    this.chunkBytes = chunkBytes;
    this.#setInfo(info);
  }

  #setInfo(info) {
    this.raw = info;
    this.id = info.session_id;
    this.layout = layoutOf(info);
    this.info = fromMessage(info);
    this.ticksPerStep = info.ticks_per_step;
  }

  get client() { return this.#client; }
  /** The last TickAck seen on the stream (camelCase), or null. */
  get lastAck() { return this.#stream?.lastAck ? fromMessage(this.#stream.lastAck) : null; }

  #train() {
    if (!this.#stream) {
      const stream = new TrainStream(this.#client.stub, this.id, this.layout,
                                     { workerId: this.workerId, chunkBytes: this.chunkBytes, metadata: this.#client.metadata() });
      const open = this.#client.openStreams;
      open.add(stream);
      stream.status.then(() => open.delete(stream));
      this.#stream = stream;
    }
    return this.#stream;
  }

  // Runs `fn` on the stream; a failed stream is dropped so that the next call re-attaches.
  async #onStream(fn) {
    const stream = this.#train();
    try {
      return await fn(stream);
    } catch (e) {
      if (this.#stream === stream) { this.#stream = null; stream.cancel(); }
      throw toBasinError(e);
    }
  }

  /** Waits for the next query point: {tick, step, phase, minibatchKey, params, values}. */
  query() { return this.#onStream((s) => s.query()); }

  /**
   * Sends the loss and gradient for the last query point (or `tick`) and waits for its ack.
   * `grads`: {name: Float32Array | number[] | {data}} or one flat Float32Array in layout order.
   */
  tell(grads, loss, { batchSize = 1, tick } = {}) {
    return this.#onStream(async (s) => {
      const t = tick ?? s.lastQueryTick;
      if (t === null || t === undefined) throw new BasinError(grpc.status.FAILED_PRECONDITION, 'tell() before query(): no tick to answer');
      s.send(t, grads, loss, batchSize);
      const ack = await s.waitAck(t);
      return { tick: ack.tick, outcome: ack.outcome.replace(/^OUTCOME_/, ''), sessionTick: ack.session_tick };
    });
  }

  /** Half-closes the Train stream and waits for the server's OK. The session itself lives on. */
  async close() {
    const stream = this.#stream;
    this.#stream = null;
    if (stream) await stream.close();
  }

  /** Deletes the session on the server (closing the stream first). */
  async delete() {
    const stream = this.#stream;
    this.#stream = null;
    if (stream) stream.cancel();
    await this.#client.deleteSession(this.id);
  }

  async refresh() { this.#setInfo(await this.#client.unary('GetSession', { session_id: this.id })); return this.info; }

  /** The model: x (Entropy-SGD), θ (SGD, SGLD, EMCMC), w (SAM). */
  model() { return this.#client.getParameters(this, 'PARAMETER_SET_MODEL'); }
  /** EMCMC's anchor θa (FAILED_PRECONDITION for optimizers without one). */
  anchor() { return this.#client.getParameters(this, 'PARAMETER_SET_ANCHOR'); }
  /** The current query point, read without a Train stream. */
  queryPoint() { return this.#client.getParameters(this, 'PARAMETER_SET_QUERY'); }
  sample(index) { return this.#client.getParameters(this, 'PARAMETER_SET_SAMPLE', index); }

  /** Collected samples, oldest first: [{index, step, which: 'MODEL' | 'ANCHOR', params}]. */
  async samples({ withParams = true } = {}) {
    const r = await this.#client.unary('ListSamples', { session_id: this.id });
    const out = [];
    for (const s of r.samples) {
      const entry = { index: s.index, step: s.step, which: s.which.replace(/^PARAMETER_SET_/, '') };
      if (withParams) entry.params = await this.sample(s.index);
      out.push(entry);
    }
    out.dropped = r.dropped;
    return out;
  }

  /** GetSessionStats, camelCase. */
  async stats() { return fromMessage(await this.#client.unary('GetSessionStats', { session_id: this.id })); }

  /** Overwrites the model (between outer steps). */
  setModel(params) { return this.#client.putParameters(this, 'PARAMETER_SET_MODEL', params); }
  /** Overwrites EMCMC's anchor (between outer steps). */
  setAnchor(params) { return this.#client.putParameters(this, 'PARAMETER_SET_ANCHOR', params); }
}

// --- Client ----------------------------------------------------------------------------------------

export class Client {
  /**
   * @param target "host:port"
   * @param options {timeout: seconds per unary call (30), protoDir, credentials, channelOptions,
   *                 chunkBytes (1 MiB), token (sent as `authorization: Bearer <token>` on every
   *                 call, Train included), tls ({rootCert, cert, key: PEM file paths, serverName}:
   *                 a TLS channel; cert and key for mutual TLS)}
   */
  constructor(target, { timeout = 30, protoDir, credentials, channelOptions = {}, chunkBytes = DEFAULT_CHUNK_BYTES, token, tls } = {}) {
    this.target = target;
    this.timeout = timeout;
    this.chunkBytes = chunkBytes;
    this.token = token;
    this.protos = loadProtos(protoDir ?? defaultProtoDir());
    if (tls && credentials) throw new TypeError('basin client: give tls or credentials, not both');
    if (tls?.serverName) channelOptions = { ...channelOptions, 'grpc.ssl_target_name_override': tls.serverName };
    const creds = credentials ?? (tls ? tlsCredentials(tls) : grpc.credentials.createInsecure());
    this.stub = new this.protos.Optimizer(target, creds, channelOptions);
    /** Train streams not yet finished; close() cancels them. */
    this.openStreams = new Set();
    this.healthStub = new this.protos.Health(target, creds, { ...channelOptions, channelOverride: this.stub.getChannel() });
  }

  /** The metadata every call carries: the bearer token, if any. */
  metadata() {
    const m = new grpc.Metadata();
    if (this.token) m.set('authorization', `Bearer ${this.token}`);
    return m;
  }

  #deadline() { return this.timeout ? new Date(Date.now() + this.timeout * 1000) : undefined; }
  #callOptions() { const d = this.#deadline(); return d ? { deadline: d } : {}; }

  /** Calls a unary RPC of basin.v1.Optimizer with a snake_case request; rejects with BasinError. */
  unary(method, request, stub = this.stub) {
    return new Promise((resolve, reject) => {
      stub[method](request, this.metadata(), this.#callOptions(), (err, response) => (err ? reject(toBasinError(err)) : resolve(response)));
    });
  }

  /** grpc.health.v1 status of `service` ('' = the server): 'SERVING', 'NOT_SERVING', ... */
  async health(service = '') {
    const r = await this.unary('Check', { service }, this.healthStub);
    return r.status;
  }

  /**
   * Creates a session.
   * @param spec {params, optimizer, seed, stateDtype, samples, workers, metricsRun, requestId,
   *              workerId, nonfinitePolicy ('reject' (default) | 'skip': a gradient or loss with
   *              NaN or Inf is acknowledged SKIPPED and the same tick is asked for again)}
   */
  async createSession({ params, optimizer, seed = 0, stateDtype = 'f32', samples, workers, metricsRun, requestId, workerId = 0, nonfinitePolicy, ...rest } = {}) {
    const unknown = Object.keys(rest);
    if (unknown.length) throw new TypeError(`basin client: createSession has no option ${unknown.join(', ')}`);
    if (!optimizer) throw new TypeError('basin client: createSession needs an optimizer, e.g. SGD({lr: 0.1})');
    const def = this.protos.definition;
    const tensors = normaliseTensors(params);
    const spec = toMessage(def, 'basin.v1.SessionSpec', {
      tensors: tensors.map((t) => ({ name: t.name, shape: t.shape })),
      stateDtype,
      optimizer,
      samples,
      seed: typeof seed === 'bigint' ? seed.toString() : seed,
      workers,
      metricsRun,
      nonfinitePolicy,
    }, 'spec');
    const withData = tensors.some((t) => t.data);
    const values = tensors.map((t) => ({ name: t.name, data: t.data ?? new Float32Array(sizeOf(t.shape)) }));
    const bytes = values.reduce((a, t) => a + t.data.length * F32, 0);
    // Initial values ride in the request while it stays well inside gRPC's 4 MiB message limit;
    // bigger models are created at zero and then written with PutParameters.
    const inline = withData && bytes <= 2 * DEFAULT_CHUNK_BYTES;
    const request = { spec, request_id: requestId ?? '' };
    if (inline) request.initial_values = [...chunksOf(values, this.chunkBytes)];
    const info = await this.unary('CreateSession', request);
    const session = new Session(this, info, { workerId, chunkBytes: this.chunkBytes });
    if (withData && !inline) {
      try {
        await this.putParameters(session, 'PARAMETER_SET_MODEL', values);
        // The anchor was copied from the zero model at creation: give it the initial values too.
        if (info.spec.optimizer.optimizer === 'emcmc') await this.putParameters(session, 'PARAMETER_SET_ANCHOR', values);
      } catch (e) {
        await this.deleteSession(session.id).catch(() => {});
        throw e;
      }
    }
    return session;
  }

  /** A handle on an existing session. */
  async session(sessionId, { workerId = 0 } = {}) {
    return new Session(this, await this.unary('GetSession', { session_id: sessionId }), { workerId, chunkBytes: this.chunkBytes });
  }

  /** Every session (camelCase Session messages), following pages. */
  async listSessions() {
    const out = [];
    let token = '';
    do {
      const r = await this.unary('ListSessions', { page_size: 1000, page_token: token });
      out.push(...r.sessions.map(fromMessage));
      token = r.next_page_token;
    } while (token);
    return out;
  }

  async deleteSession(sessionId) { await this.unary('DeleteSession', { session_id: sessionId }); }

  /** {name: {shape, data: Float32Array}} of a parameter set. */
  getParameters(session, which, sampleIndex = 0) {
    const sessionId = typeof session === 'string' ? session : session.id;
    return new Promise((resolve, reject) => {
      const finish = (layout) => {
        const { params, byName } = allocate(layout);
        const call = this.stub.GetParameters(
          { session_id: sessionId, which, sample_index: sampleIndex, dtype: 'DTYPE_F32', max_chunk_bytes: this.chunkBytes },
          this.metadata(), this.#callOptions());
        let failed = null;
        call.on('data', (r) => {
          if (failed || !r.chunk) return;
          try {
            const target = byName.get(r.chunk.tensor);
            if (!target) throw new BasinError(grpc.status.INTERNAL, `chunk of unknown tensor ${r.chunk.tensor}`);
            decodeInto(target, r.chunk.offset, r.chunk.data, r.chunk.tensor);
          } catch (e) { failed = e; call.cancel(); }
        });
        call.on('error', (e) => reject(failed ?? toBasinError(e)));
        call.on('end', () => (failed ? reject(failed) : resolve(params)));
      };
      if (typeof session === 'string') {
        this.unary('GetSession', { session_id: sessionId }).then((info) => finish(layoutOf(info)), reject);
      } else {
        finish(session.layout);
      }
    });
  }

  /** Overwrites MODEL or ANCHOR from {name: Float32Array | {data}} (or [{name, data}]). */
  putParameters(session, which, params) {
    const sessionId = typeof session === 'string' ? session : session.id;
    const given = Array.isArray(params) && params.length && !Array.isArray(params[0]) ? params : normaliseTensors(params);
    const layoutNames = typeof session === 'string' ? null : session.layout.map((t) => t.name);
    const ordered = layoutNames
      ? [...layoutNames.filter((n) => given.some((t) => t.name === n)).map((n) => given.find((t) => t.name === n)),
         ...given.filter((t) => !layoutNames.includes(t.name))]
      : given;
    return new Promise((resolve, reject) => {
      const call = this.stub.PutParameters(this.metadata(), this.#callOptions(), (err, r) => (err ? reject(toBasinError(err)) : resolve(fromMessage(r.session))));
      call.write({ target: { session_id: sessionId, which } });
      for (const chunk of chunksOf(ordered.map((t) => ({ name: t.name, data: t.data ?? new Float32Array(0) })), this.chunkBytes)) {
        call.write({ chunk });
      }
      call.end();
    });
  }

  /** Cancels any open Train streams and closes the channel. */
  close() {
    for (const stream of this.openStreams) stream.cancel();
    this.openStreams.clear();
    this.healthStub.close?.();
    this.stub.close();
  }
}

export default Client;
