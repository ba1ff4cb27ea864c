/**
 * The dedicated backend (`npm run backend`) as a child process against a local stack, for the
 * order API's proxy mode: `env` is what the functions need to forward to it (BACKEND_URL and the
 * shared secret; BACKEND_MODE=proxy is set per request by the caller). Local-only.
 */
import { spawn } from 'node:child_process';
import { freePort } from '../dev/services/postgres.js';
import { projectRoot, type LocalStack } from '../dev/stack.js';

export type Backend = { url: string; env: Record<string, string>; stop(): Promise<void> };


export async function spawnBackend(stack: LocalStack): Promise<Backend> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const secret = 'bench-backend-shared-secret';
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'backend/server.ts'], {
    cwd: projectRoot,
    env: { ...process.env, ...stack.env, PORT: String(port), BACKEND_SHARED_SECRET: secret, LOG_LEVEL: 'error', BACKEND_DRAIN_SECONDS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`backend exited (${child.exitCode}): ${output.slice(-2000)}`);
    if ((await fetch(`${url}/healthz`).catch(() => null))?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`backend not healthy after 30 s: ${output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    env: { BACKEND_URL: url, BACKEND_SHARED_SECRET: secret },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
