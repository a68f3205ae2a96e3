// Models bigger than one 1 MiB chunk, both ways.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Client, SGD } from '../../client/node/src/index.js';
import { startServer } from './server.mjs';

let server;
let client;
before(async () => {
  server = await startServer();
  client = new Client(server.target, { timeout: 30 });
});
after(async () => {
  client?.close();
  await server.stop();
});

function pattern(n, scale) {
  const v = new Float32Array(n);
  for (let i = 0; i < n; ++i) v[i] = ((i % 1021) - 510) * scale;  // small integers times a power of two
  return v;
}

async function roundTrip(sizes) {
  const params = Object.fromEntries(sizes.map((n, i) => [`t${i}`, { shape: [n], data: pattern(n, 2 ** -i) }]));
  const s = await client.createSession({ params, optimizer: SGD({ lr: 0.25 }) });
  assert.equal(s.info.numParameters, sizes.reduce((a, b) => a + b, 0));
  const q = await s.query();
  for (const [name, t] of Object.entries(params)) {
    assert.deepEqual(q.params[name].shape, t.shape);
    assert.ok(Buffer.from(q.params[name].data.buffer, q.params[name].data.byteOffset, t.data.byteLength)
      .equals(Buffer.from(t.data.buffer)), `query ${name} differs`);
  }
  // g = θ: θ ← 0.75 θ, exact for these values.
  const ack = await s.tell(q.params, 1);
  assert.equal(ack.outcome, 'APPLIED');
  const model = await s.model();
  for (const [name, t] of Object.entries(params)) {
    const want = t.data.map((v) => 0.75 * v);
    assert.ok(Buffer.from(model[name].data.buffer, model[name].data.byteOffset, want.byteLength).equals(Buffer.from(want.buffer)),
      `model ${name} differs`);
  }
  const q1 = await s.query();
  assert.equal(q1.tick, 1);
  assert.equal(q1.values[1], 0.75 * params.t0.data[1]);
  await s.close();
  await s.delete();
}

test('initial values in CreateSession over two chunks (1.6 MB)', async () => {
  await roundTrip([400_000]);
});

test('a 12 MB model written with PutParameters, queried and told in 1 MiB chunks', async () => {
  await roundTrip([3_000_000, 7, 0, 262_145]);
});
