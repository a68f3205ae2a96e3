// Every bad call gets its status code as a BasinError, and changes nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { BasinError, Client, EntropySGD, SGD, Status } from '../../client/node/src/index.js';
import { startServer } from './server.mjs';

let server;
let client;
before(async () => {
  server = await startServer();
  client = new Client(server.target, { timeout: 10 });
});
after(async () => {
  client?.close();
  await server.stop();
});

// Asserts that `promise` rejects with a BasinError of `codeName` whose message matches `pattern`.
async function rejectsWith(promise, codeName, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof BasinError, `not a BasinError: ${e}`);
    assert.equal(e.codeName, codeName, `${e.codeName}: ${e.message}`);
    assert.equal(e.code, Status[codeName]);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

// A session one tick in (model [3, 6] after one SGD step from [4, 8] with lr 0.25).
async function oneTickIn() {
  const s = await client.createSession({ params: { w: [4, 8] }, optimizer: SGD({ lr: 0.25 }) });
  const q = await s.query();
  await s.tell({ w: q.values }, 40);
  return s;
}

async function assertUnchanged(s) {
  const stats = await s.stats();
  assert.deepEqual([stats.tick, stats.step, stats.lastLoss], [1, 1, 40]);
  assert.deepEqual([...(await s.model()).w.data], [3, 6]);
  // The session still trains: a good gradient after the bad one is applied.
  const q = await s.query();
  assert.equal(q.tick, 1);
  assert.deepEqual([...q.values], [3, 6]);
}

test('unknown session: NOT_FOUND on every call and on attach', async () => {
  await rejectsWith(client.session('no-such-session'), 'NOT_FOUND', /no-such-session/);
  await rejectsWith(client.deleteSession('no-such-session'), 'NOT_FOUND');
  await rejectsWith(client.getParameters('no-such-session', 'PARAMETER_SET_MODEL'), 'NOT_FOUND');
  const s = await client.createSession({ params: { w: [1] }, optimizer: SGD() });
  await s.delete();
  await rejectsWith(s.stats(), 'NOT_FOUND');
  await rejectsWith(s.model(), 'NOT_FOUND');
  await rejectsWith(s.samples(), 'NOT_FOUND');
  await rejectsWith(s.query(), 'NOT_FOUND');  // the Train stream's attach
  await rejectsWith(s.delete(), 'NOT_FOUND');
});

test('a gradient for an unknown tensor is INVALID_ARGUMENT and changes nothing', async () => {
  const s = await oneTickIn();
  await s.query();
  await rejectsWith(s.tell({ bogus: [1, 1] }, 1), 'INVALID_ARGUMENT', /bogus/);
  await assertUnchanged(s);
  const ack = await s.tell({ w: [3, 6] }, 22.5);
  assert.deepEqual(ack, { tick: 1, outcome: 'APPLIED', sessionTick: 2 });
  assert.deepEqual([...(await s.model()).w.data], [2.25, 4.5]);
  await s.delete();
});

test('a gradient of the wrong shape is INVALID_ARGUMENT and changes nothing', async () => {
  const s = await oneTickIn();
  await s.query();
  await rejectsWith(s.tell({ w: [1, 2, 3] }, 1), 'INVALID_ARGUMENT', /w/);
  await assertUnchanged(s);
  await rejectsWith(s.tell({ w: [1] }, 1), 'INVALID_ARGUMENT', /w/);
  await assertUnchanged(s);
  await s.delete();
});

test('NaN or Inf in a gradient, or a NaN loss, is INVALID_ARGUMENT and changes nothing', async () => {
  const s = await oneTickIn();
  await s.query();
  await rejectsWith(s.tell({ w: [1, NaN] }, 1), 'INVALID_ARGUMENT', /w/);
  await assertUnchanged(s);
  await rejectsWith(s.tell({ w: [Infinity, 1] }, 1), 'INVALID_ARGUMENT');
  await assertUnchanged(s);
  await rejectsWith(s.tell({ w: [1, 1] }, NaN), 'INVALID_ARGUMENT');
  await assertUnchanged(s);
  await s.delete();
});

test('bad hyper-parameters are INVALID_ARGUMENT and create nothing', async () => {
  const before = (await client.listSessions()).length;
  await rejectsWith(client.createSession({ params: { w: [1] }, optimizer: SGD({ lr: -1 }) }), 'INVALID_ARGUMENT', /lr/);
  await rejectsWith(client.createSession({ params: { w: [1] }, optimizer: SGD({ momentum: 1.5 }) }), 'INVALID_ARGUMENT', /momentum/);
  await rejectsWith(client.createSession({ params: { w: [1] }, optimizer: EntropySGD({ gamma: -1 }) }), 'INVALID_ARGUMENT', /gamma/);
  await rejectsWith(client.createSession({ params: { w: [1] }, optimizer: SGD({ lr: NaN }) }), 'INVALID_ARGUMENT');
  await rejectsWith(client.createSession({ params: {}, optimizer: SGD() }), 'INVALID_ARGUMENT');
  assert.equal((await client.listSessions()).length, before);
  // A typo is caught by the client before anything is sent.
  await assert.rejects(client.createSession({ params: { w: [1] }, optimizer: SGD({ learningRate: 0.1 }) }), TypeError);
});

test('the anchor of SGD is FAILED_PRECONDITION', async () => {
  const s = await oneTickIn();
  await rejectsWith(s.anchor(), 'FAILED_PRECONDITION');
  await assertUnchanged(s);
  await s.delete();
});

test('BasinError carries the numeric code, its name and the server message', async () => {
  const e = await client.session('s-missing').catch((x) => x);
  assert.equal(e.code, 5);
  assert.equal(e.codeName, 'NOT_FOUND');
  assert.ok(e.message.length > 0);
  assert.match(String(e), /NOT_FOUND/);
});
