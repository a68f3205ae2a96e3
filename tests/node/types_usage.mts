// Compiled by `tsc -p tests/node/tsconfig.json` (test node_client_typecheck) against
// client/node/index.d.ts: the README's usage, type-checked. Never run.
import { BasinError, Client, EMCMC, EntropySGD, SAM, SGD, SGLD, type QueryPoint, type TickAck } from '@basin/client';

export async function usage(target: string): Promise<number> {
  const client = new Client(target, { timeout: 10 });
  const status: string = await client.health();
  const session = await client.createSession({
    params: { w: { shape: [2, 3], data: new Float32Array(6) }, b: Float32Array.of(0) },
    optimizer: EntropySGD({ L: 5, variant: 'lua', innerLr: 0.1 }),
    seed: 1n,
    stateDtype: 'f64',
    samples: { which: 'model', burnIn: 10 },
    nonfinitePolicy: 'skip',
  });
  for (const optimizer of [SGD({ lr: 0.1 }), SGLD({ temperature: 0 }), SAM({ rho: 0.05 }), EMCMC({ form: 'paper' })]) {
    void optimizer;
  }
  const q: QueryPoint = await session.query();
  const grads = { w: q.params.w.data.map((v) => 2 * v), b: q.params.b.data };
  const ack: TickAck = await session.tell(grads, 0.5, { batchSize: 32 });
  const flat: TickAck = await session.tell(q.values, 0.5);
  const model = await session.model();
  const w: Float32Array = model.w.data;
  const stats = await session.stats();
  const samples = await session.samples();
  try {
    await session.anchor();
  } catch (e) {
    if (e instanceof BasinError && e.codeName === 'FAILED_PRECONDITION') console.log(e.code, e.message);
  }
  await session.close();
  await session.delete();
  client.close();
  return ack.sessionTick + flat.tick + w.length + stats.tick + samples.length + samples.dropped + status.length;
}
