// Starts a real basin-server ($BASIN_SERVER) on an ephemeral loopback port for one test file and
// SIGTERMs it at the end. Usage:
//   const server = await startServer();  ...  server.target ...  await server.stop();
import { spawn } from 'node:child_process';

export async function startServer({ binary = process.env.BASIN_SERVER, args = [], timeoutMs = 20000 } = {}) {
  if (!binary) throw new Error('set BASIN_SERVER to the path of basin-server');
  const child = spawn(binary, ['--listen=127.0.0.1:0', '--metrics_listen=none', '--data_dir=none', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const target = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`basin-server did not start in ${timeoutMs} ms: ${out}${stderr}`)), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /basin-server listening on (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`basin-server exited (code ${code}, signal ${signal}) before listening: ${out}${stderr}`));
    });
  });
  child.stdout.resume();
  return {
    target,
    child,
    get stderr() { return stderr; },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const { code, signal } = await exited;
      return { code, signal };
    },
  };
}
