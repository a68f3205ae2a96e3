// examples/node/logistic_regression.mjs, briefly, against a live basin-server.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { startServer } from './server.mjs';

const example = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'node', 'logistic_regression.mjs');
let server;
before(async () => { server = await startServer(); });
after(async () => { await server.stop(); });

test('logistic regression with SGD and Entropy-SGD reaches 90% accuracy', async () => {
  const { stdout } = await promisify(execFile)(process.execPath,
    [example, `--target=${server.target}`, '--steps=60', '--min_accuracy=0.9'], { timeout: 90_000 });
  process.stdout.write(stdout);
  const acc = Object.fromEntries([...stdout.matchAll(/^(\w+): final loss [\d.]+, accuracy ([\d.]+)/gm)].map((m) => [m[1], Number(m[2])]));
  assert.deepEqual(Object.keys(acc), ['sgd', 'entropy_sgd']);
  for (const [name, a] of Object.entries(acc)) assert.ok(a >= 0.9, `${name}: accuracy ${a}`);
});
