#!/usr/bin/env node
// Logistic regression trained through basin from Node: the data, the model and its gradients are
// this program's; basin-server runs the optimizer (SGD, then Entropy-SGD) over the tick protocol.
//
//   basin-server --listen=127.0.0.1:50051 &
//   client/node/install
//   node examples/node/logistic_regression.mjs --target=127.0.0.1:50051 --steps=200
//
// Flags: --target, --steps (outer steps per optimizer), --examples, --features, --batch_size,
// --seed, --optimizers=sgd,entropy_sgd, --min_accuracy (exit 1 if any run ends below it).
// In your own project: import { Client, SGD, EntropySGD } from '@basin/client';
import { Client, EntropySGD, SGD } from '../../client/node/src/index.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([^=]+)=(.*)$/.exec(a);
  if (!m) { console.error(`unknown argument ${a}`); process.exit(2); }
  return [m[1], m[2]];
}));
const opt = {
  target: args.target ?? '127.0.0.1:50051',
  steps: Number(args.steps ?? 200),
  examples: Number(args.examples ?? 2000),
  features: Number(args.features ?? 10),
  batchSize: Number(args.batch_size ?? 64),
  seed: Number(args.seed ?? 42),
  optimizers: (args.optimizers ?? 'sgd,entropy_sgd').split(','),
  minAccuracy: Number(args.min_accuracy ?? 0),
};

// mulberry32: a small seeded generator, so the data set is the same on every run and machine.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normal(u) {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

// x ~ N(0, I), y = [w*·x + b* + 0.3ε > 0]: nearly separable, a few labels flipped by the noise.
function makeData(n, p, seed) {
  const g = normal(rng(seed));
  const teacher = Array.from({ length: p }, () => g() / Math.sqrt(p));
  const bias = 0.5 * g();
  const x = new Float32Array(n * p);
  const y = new Float32Array(n);
  for (let i = 0; i < n; ++i) {
    let z = bias + 0.3 * g();
    for (let j = 0; j < p; ++j) { x[i * p + j] = g(); z += teacher[j] * x[i * p + j]; }
    y[i] = z > 0 ? 1 : 0;
  }
  return { n, p, x, y };
}

// Mean logistic loss over `rows` at (w, b), and its gradient.
function lossAndGradient(d, w, b, rows) {
  const gw = new Float64Array(d.p);
  let gb = 0;
  let loss = 0;
  for (const i of rows) {
    let z = b;
    for (let j = 0; j < d.p; ++j) z += w[j] * d.x[i * d.p + j];
    loss += Math.log1p(Math.exp(-Math.abs(z))) + Math.max(z, 0) - d.y[i] * z;
    const r = 1 / (1 + Math.exp(-z)) - d.y[i];
    for (let j = 0; j < d.p; ++j) gw[j] += r * d.x[i * d.p + j];
    gb += r;
  }
  const m = rows.length;
  return { loss: loss / m, w: Float32Array.from(gw, (v) => v / m), b: Float32Array.of(gb / m) };
}

function accuracy(d, w, b) {
  let correct = 0;
  for (let i = 0; i < d.n; ++i) {
    let z = b;
    for (let j = 0; j < d.p; ++j) z += w[j] * d.x[i * d.p + j];
    if ((z > 0) === (d.y[i] > 0.5)) ++correct;
  }
  return correct / d.n;
}

// The minibatch depends only on (seed, minibatch_key): SAM's two ticks of a step share a key.
function minibatch(d, size, seed, key) {
  const u = rng((seed * 2654435761 + key * 40503 + 1) >>> 0);
  return Array.from({ length: size }, () => Math.floor(u() * d.n));
}

const OPTIMIZERS = {
  sgd: () => SGD({ lr: 0.5, momentum: 0.9 }),
  entropy_sgd: () => EntropySGD({ variant: 'lua', L: 5, innerLr: 0.5, lr: 1 }),
};

async function train(client, data, name) {
  const session = await client.createSession({
    params: { w: { shape: [data.p] }, b: { shape: [] } },  // starts at zero
    optimizer: OPTIMIZERS[name](),
    seed: opt.seed,
  });
  const ticks = opt.steps * session.ticksPerStep;
  console.log(`${name}: session ${session.id}, ${session.ticksPerStep} ticks per step, ${ticks} ticks`);
  const start = performance.now();
  let smoothed = null;
  try {
    for (let k = 0; k < ticks; ++k) {
      const q = await session.query();
      const g = lossAndGradient(data, q.params.w.data, q.params.b.data[0],
        minibatch(data, opt.batchSize, opt.seed, q.minibatchKey));
      await session.tell({ w: g.w, b: g.b }, g.loss, { batchSize: opt.batchSize });
      smoothed = smoothed === null ? g.loss : 0.95 * smoothed + 0.05 * g.loss;
      if ((k + 1) % Math.max(1, Math.floor(ticks / 5)) === 0) {
        console.log(`  tick ${String(k + 1).padStart(6)}  loss (smoothed) ${smoothed.toFixed(4)}`);
      }
    }
    await session.close();
    const model = await session.model();
    const stats = await session.stats();
    const all = Array.from({ length: data.n }, (_, i) => i);
    const full = lossAndGradient(data, model.w.data, model.b.data[0], all);
    const acc = accuracy(data, model.w.data, model.b.data[0]);
    const seconds = (performance.now() - start) / 1000;
    console.log(`${name}: final loss ${full.loss.toFixed(4)}, accuracy ${acc.toFixed(4)} ` +
      `(${stats.tick} ticks, ${stats.step} steps, ${(stats.tick / seconds).toFixed(0)} ticks/s)`);
    return acc;
  } finally {
    await session.delete();
  }
}

const data = makeData(opt.examples, opt.features, opt.seed);
const client = new Client(opt.target, { timeout: 10 });
let ok = true;
try {
  console.log(`basin at ${opt.target}: ${await client.health()}`);
  for (const name of opt.optimizers) {
    if (!OPTIMIZERS[name]) throw new Error(`unknown optimizer ${name}; known: ${Object.keys(OPTIMIZERS)}`);
    const acc = await train(client, data, name);
    if (acc < opt.minAccuracy) { console.error(`${name}: accuracy ${acc} below ${opt.minAccuracy}`); ok = false; }
  }
} catch (e) {
  console.error(String(e));
  ok = false;
} finally {
  client.close();
}
process.exitCode = ok ? 0 : 1;
