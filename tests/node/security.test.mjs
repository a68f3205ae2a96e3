// The Node client over TLS, mutual TLS and bearer tokens, against a real basin-server with
// certificates made for this run (tests/testing/make_test_certs.py) and a token file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { BasinError, Client, SGD } from '../../client/node/src/index.js';
import { startServer } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir;
let server;
const pem = (name) => path.join(dir, name);

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'basin-node-tls-'));
  execFileSync('/usr/bin/python3', [path.join(here, '..', 'testing', 'make_test_certs.py'), dir]);
  writeFileSync(pem('tokens'), 'alice alice-token-0123456789abcdef\nbob bob-token-0123456789abcdef\n');
  server = await startServer({
    args: [`--tls_cert=${pem('server.pem')}`, `--tls_key=${pem('server.key')}`, `--tls_client_ca=${pem('ca.pem')}`,
           `--auth_tokens_file=${pem('tokens')}`],
  });
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mutual = () => ({ rootCert: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key'), serverName: 'basin.test' });

async function rejectsWith(promise, codeName, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof BasinError, `not a BasinError: ${e}`);
    assert.equal(e.codeName, codeName, `${e.codeName}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('mutual TLS with a token trains, and each tenant sees only its own sessions', async () => {
  const alice = new Client(server.target, { timeout: 10, tls: mutual(), token: 'alice-token-0123456789abcdef' });
  const bob = new Client(server.target, { timeout: 10, tls: mutual(), token: 'bob-token-0123456789abcdef' });
  try {
    const s = await alice.createSession({ params: { w: [4, 8] }, optimizer: SGD({ lr: 0.25 }) });
    for (let k = 0; k < 3; ++k) {
      const q = await s.query();
      assert.equal((await s.tell(q.values, 1)).outcome, 'APPLIED');  // the Train stream carries the token
    }
    await s.close();
    assert.equal((await alice.listSessions()).length, 1);
    assert.equal((await bob.listSessions()).length, 0);
    await rejectsWith(bob.session(s.id), 'NOT_FOUND', /no session/);
  } finally {
    alice.close();
    bob.close();
  }
});

test('a wrong token or none is UNAUTHENTICATED; without a client certificate the handshake fails', async () => {
  const wrong = new Client(server.target, { timeout: 10, tls: mutual(), token: 'not-a-token' });
  const none = new Client(server.target, { timeout: 10, tls: mutual() });
  const noCert = new Client(server.target, {
    timeout: 5, tls: { rootCert: pem('ca.pem'), serverName: 'basin.test' }, token: 'alice-token-0123456789abcdef' });
  const plaintext = new Client(server.target, { timeout: 5, token: 'alice-token-0123456789abcdef' });
  try {
    await rejectsWith(wrong.listSessions(), 'UNAUTHENTICATED', /not valid/);
    await rejectsWith(none.listSessions(), 'UNAUTHENTICATED', /no bearer token/);
    await rejectsWith(noCert.listSessions(), 'UNAVAILABLE');
    await rejectsWith(plaintext.listSessions(), 'UNAVAILABLE');
    assert.equal(await none.health(), 'SERVING', 'health needs no token');
  } finally {
    for (const c of [wrong, none, noCert, plaintext]) c.close();
  }
});

test('tls options are checked', () => {
  assert.throws(() => new Client(server.target, { tls: { cert: pem('client.pem') } }), /go together/);
  assert.throws(() => new Client(server.target, { tls: { rootcert: 'x' } }), /no option rootcert/);
});
