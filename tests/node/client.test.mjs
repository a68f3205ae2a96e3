// @basin/client against a real basin-server: every optimizer, read-backs, exact SGD arithmetic.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client, EMCMC, EntropySGD, SAM, SGD, SGLD } from '../../client/node/src/index.js';
import { startServer } from './server.mjs';

let server;
let client;
before(async () => {
  server = await startServer();
  client = new Client(server.target, { timeout: 10 });
});
after(async () => {
  client?.close();
  const { code, signal } = await server.stop();
  assert.ok(code === 0 || signal === 'SIGTERM', `basin-server exit code ${code} signal ${signal}\n${server.stderr}`);
});

// U(θ) = ½‖θ‖²: gradient θ, loss ½‖θ‖².
function quadratic(values) {
  let loss = 0;
  for (const v of values) loss += 0.5 * v * v;
  return { grad: Float32Array.from(values), loss };
}

function assertClose(actual, expected, tol = 1e-5, what = '') {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; ++i) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}] = ${actual[i]}, expected ${expected[i]}`);
  }
}

test('health is SERVING', async () => {
  assert.equal(await client.health(), 'SERVING');
  assert.equal(await client.health('basin.v1.Optimizer'), 'SERVING');
});

test('SGD on a quadratic: exact values of query, model, samples and stats', async () => {
  const s = await client.createSession({
    params: { w: { shape: [2, 2], data: [1, 2, -4, 8] }, b: Float32Array.of(16) },
    optimizer: SGD({ lr: 0.25 }),
    seed: 7,
    samples: { which: 'model' },
  });
  assert.match(s.id, /\S/);
  assert.equal(s.ticksPerStep, 1);
  assert.deepEqual(s.layout.map((t) => [t.name, t.shape]), [['w', [2, 2]], ['b', [1]]]);
  assert.equal(s.info.spec.optimizer.sgd.lr, 0.25);
  assert.equal(s.info.spec.optimizer.sgd.momentum, 0);  // the server fills every default

  let expected = [1, 2, -4, 8, 16];
  for (let k = 0; k < 3; ++k) {
    const q = await s.query();
    assert.equal(q.tick, k);
    assert.equal(q.step, k);
    assert.equal(q.phase, 0);
    assert.deepEqual(q.params.w.shape, [2, 2]);
    assert.deepEqual([...q.values], expected);  // exact: powers of two times 0.75^k
    const { grad, loss } = quadratic(q.values);
    const ack = await s.tell({ w: grad.subarray(0, 4), b: grad.subarray(4) }, loss, { batchSize: 4 });
    assert.deepEqual(ack, { tick: k, outcome: 'APPLIED', sessionTick: k + 1 });
    expected = expected.map((v) => v - 0.25 * v);
  }
  const model = await s.model();
  assert.deepEqual([...model.w.data], expected.slice(0, 4));
  assert.deepEqual(model.w.shape, [2, 2]);
  assert.deepEqual([...model.b.data], expected.slice(4));

  const stats = await s.stats();
  assert.equal(stats.tick, 3);
  assert.equal(stats.step, 3);
  assert.equal(stats.lr, 0.25);
  assert.equal(stats.samplesKept, 3);
  const lastInput = expected.map((v) => v / 0.75);
  assert.equal(stats.lastLoss, lastInput.reduce((a, v) => a + 0.5 * v * v, 0));
  assert.ok(Math.abs(stats.lastGradientNorm - Math.hypot(...lastInput)) < 1e-9 * Math.hypot(...lastInput));

  const samples = await s.samples();
  assert.deepEqual(samples.map((x) => [x.index, x.step, x.which]), [[0, 1, 'MODEL'], [1, 2, 'MODEL'], [2, 3, 'MODEL']]);
  assert.deepEqual([...samples[2].params.w.data], expected.slice(0, 4));
  assert.deepEqual([...samples[0].params.b.data], [12]);
  assert.deepEqual((await s.samples({ withParams: false }))[1], { index: 1, step: 2, which: 'MODEL' });

  await s.close();
  // A new stream on the same session carries on where the last one stopped.
  const q = await s.query();
  assert.equal(q.tick, 3);
  await s.close();
  await s.delete();
});

test('a flat Float32Array gradient and setModel', async () => {
  const s = await client.createSession({ params: { a: { shape: [3] }, b: { shape: [1] } }, optimizer: SGD({ lr: 0.5 }) });
  assert.deepEqual([...(await s.model()).a.data], [0, 0, 0]);  // no initial values: zeros
  await s.setModel({ a: [2, 4, 6], b: [8] });
  const q = await s.query();
  assert.deepEqual([...q.values], [2, 4, 6, 8]);
  await s.tell(Float32Array.of(2, 2, 2, 2), 1);
  assert.deepEqual([...(await s.model()).a.data], [1, 3, 5]);
  await s.delete();
});

test('SGLD with temperature 0 is SGD; with noise it moves off the SGD path', async () => {
  const cold = await client.createSession({ params: { x: [4, -8] }, optimizer: SGLD({ lr: 0.25, temperature: 0 }), seed: 1 });
  const hot = await client.createSession({ params: { x: [4, -8] }, optimizer: SGLD({ lr: 0.25, temperature: 1 }), seed: 1 });
  for (const s of [cold, hot]) {
    for (let k = 0; k < 2; ++k) {
      const q = await s.query();
      const { grad, loss } = quadratic(q.values);
      assert.equal((await s.tell({ x: grad }, loss)).outcome, 'APPLIED');
    }
  }
  assert.deepEqual([...(await cold.model()).x.data], [4 * 0.75 * 0.75, -8 * 0.75 * 0.75]);
  const h = (await hot.model()).x.data;
  assert.ok(h[0] !== 2.25 && Number.isFinite(h[0]), `noisy SGLD at ${h[0]}`);
  assert.equal((await hot.stats()).tick, 2);
  await cold.delete();
  await hot.delete();
});

test('SAM: two ticks per step on one minibatch, ascent point w + rho g/|g|', async () => {
  const s = await client.createSession({ params: { w: [3, 4] }, optimizer: SAM({ lr: 0.25, rho: 0.5 }), seed: 3 });
  assert.equal(s.ticksPerStep, 2);
  const q0 = await s.query();
  assert.deepEqual([q0.tick, q0.step, q0.phase], [0, 0, 0]);
  assert.deepEqual([...q0.values], [3, 4]);
  await s.tell({ w: quadratic(q0.values).grad }, 12.5);
  const q1 = await s.query();
  assert.deepEqual([q1.tick, q1.step, q1.phase], [1, 0, 1]);
  assert.equal(q1.minibatchKey, q0.minibatchKey);  // the same minibatch for both ticks of a step
  assertClose(q1.values, [3.3, 4.4], 1e-6, 'w + eps');
  assertClose([(await s.stats()).distanceToAnchor], [0.5], 1e-6, '|eps|');
  await s.tell({ w: quadratic(q1.values).grad }, 1);
  assertClose((await s.model()).w.data, [3 - 0.25 * 3.3, 4 - 0.25 * 4.4], 1e-6, 'w1');
  const q2 = await s.query();
  assert.deepEqual([q2.tick, q2.step, q2.phase], [2, 1, 0]);
  assert.notEqual(q2.minibatchKey, q1.minibatchKey);
  await s.delete();
});

test('Entropy-SGD: L inner ticks plus the tick at x, model x moves', async () => {
  const s = await client.createSession({
    params: { x: [1, -1, 2] },
    optimizer: EntropySGD({ L: 3, gamma: 0.03, innerLr: 0.1, variant: 'lua' }),
    seed: 11,
  });
  assert.equal(s.ticksPerStep, 4);  // lua: extra tick at x
  assert.equal(s.info.spec.optimizer.entropySgd.variant, 'VARIANT_LUA');
  assert.equal(s.info.spec.optimizer.entropySgd.extraTickAtX, true);
  const phases = [];
  for (let k = 0; k < 8; ++k) {
    const q = await s.query();
    phases.push([q.step, q.phase]);
    const { grad, loss } = quadratic(q.values);
    assert.equal((await s.tell({ x: grad }, loss)).outcome, 'APPLIED');
  }
  assert.deepEqual(phases, [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]]);
  const stats = await s.stats();
  assert.deepEqual([stats.tick, stats.step, stats.phase, stats.ticksPerStep], [8, 2, 0, 4]);
  assert.ok(stats.gamma > 0.03 && stats.gamma < 0.031, `gamma ${stats.gamma}`);
  const x = (await s.model()).x.data;
  assert.ok(Math.hypot(...x) < Math.hypot(1, -1, 2), `|x| ${Math.hypot(...x)} should shrink on a quadratic`);
  await s.delete();
});

test('EMCMC: model, anchor and samples of both', async () => {
  const s = await client.createSession({
    params: { t: [2, -2] },
    optimizer: EMCMC({ form: 'paper', lr: 0.05, eta: 1, temperature: 0.01 }),
    seed: 5,
    samples: { which: 'both' },
  });
  assert.equal(s.info.spec.optimizer.emcmc.form, 'FORM_PAPER');
  assert.deepEqual([...(await s.anchor()).t.data], [2, -2]);  // the anchor starts at the model
  for (let k = 0; k < 3; ++k) {
    const q = await s.query();
    const { grad, loss } = quadratic(q.values);
    await s.tell({ t: grad }, loss);
  }
  const model = (await s.model()).t.data;
  const anchor = (await s.anchor()).t.data;
  assert.notDeepEqual([...model], [2, -2]);
  assert.notDeepEqual([...anchor], [2, -2]);
  const stats = await s.stats();
  assert.equal(stats.tick, 3);
  assertClose([stats.distanceToAnchor], [Math.hypot(model[0] - anchor[0], model[1] - anchor[1])], 1e-5, '|θ-θa|');
  const samples = await s.samples();
  assert.equal(samples.length, 6);  // a model and an anchor after each of three steps
  assert.equal(samples.dropped, 0);
  const last = samples.slice(-2);
  assert.deepEqual(last.map((x) => [x.step, x.which]).sort(), [[3, 'ANCHOR'], [3, 'MODEL']]);
  assert.deepEqual([...last.find((x) => x.which === 'MODEL').params.t.data], [...model]);
  assert.deepEqual([...last.find((x) => x.which === 'ANCHOR').params.t.data], [...anchor]);
  await s.delete();
});

test('sessions list, handles and F64 state', async () => {
  const s = await client.createSession({ params: { v: [1] }, optimizer: SGD(), stateDtype: 'f64', requestId: 'node-test-f64' });
  assert.equal(s.info.spec.stateDtype, 'DTYPE_F64');
  const again = await client.createSession({ params: { v: [1] }, optimizer: SGD(), stateDtype: 'f64', requestId: 'node-test-f64' });
  assert.equal(again.id, s.id);  // request_id: idempotent
  assert.ok((await client.listSessions()).some((x) => x.sessionId === s.id));
  const handle = await client.session(s.id);
  assert.deepEqual(handle.layout.map((t) => t.name), ['v']);
  await handle.delete();
  assert.ok(!(await client.listSessions()).some((x) => x.sessionId === s.id));
});

test('nonfinitePolicy skip: NaN is acknowledged SKIPPED and the same tick is asked for again', async () => {
  const s = await client.createSession({ params: { x: [2, -4] }, optimizer: SGD({ lr: 0.5 }), nonfinitePolicy: 'skip' });
  assert.equal(s.info.spec.nonfinitePolicy, 'NONFINITE_POLICY_SKIP');
  const q = await s.query();
  const skipped = await s.tell({ x: [NaN, 1] }, 1);
  assert.deepEqual(skipped, { tick: 0, outcome: 'SKIPPED', sessionTick: 0 });
  const again = await s.query();
  assert.equal(again.tick, q.tick);
  assert.deepEqual([...again.values], [2, -4]);
  assert.equal((await s.tell({ x: again.values }, 1)).outcome, 'APPLIED');
  const stats = await s.stats();
  assert.equal(stats.tick, 1);
  assert.equal(stats.gradientsSkipped, 1);
  assert.deepEqual([...(await s.model()).x.data], [1, -2]);
  await s.delete();
});
