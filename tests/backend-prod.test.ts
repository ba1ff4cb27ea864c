/**
 * The dedicated backend as a shop runs it on its own server: `npm run build:backend` (a dev step)
 * bundles it into dist/backend.js, which is started with plain `node` from a production install
 * (`npm ci --omit=dev`: no tsx, no esbuild, no dev dependency) in a temp copy of the project.
 * Checks /healthz, then SIGTERM drains and exits 0. The install reuses npm's cache.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  execFileSync('npm', ['run', '--silent', 'build:backend'], { cwd: root, stdio: 'pipe' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'backend-prod-'));
  await mkdir(path.join(dir, 'dist'));
  for (const f of ['package.json', 'package-lock.json', 'dist/backend.js']) await copyFile(path.join(root, f), path.join(dir, f));
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'pipe', env: { ...process.env, NODE_ENV: 'production' } });
}, 300_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

const env = {
  PATH: process.env.PATH!,
  PORT: '0',
  BACKEND_SHARED_SECRET: 'backend-secret-for-the-test',
  DATABASE_URL: 'postgresql://shop:pw@db.example/shop',
  UPSTASH_REDIS_REST_URL: 'https://redis.example',
  UPSTASH_REDIS_REST_TOKEN: 'tok',
  WHATSAPP_PHONE_NUMBER_ID: '100000000000001',
  WHATSAPP_ACCESS_TOKEN: 'EAAtest',
  STRIPE_SECRET_KEY: 'sk_test_x',
  APP_BASE_URL: 'https://shop.example',
  BACKEND_DRAIN_SECONDS: '2',
};

describe('the dedicated backend from a production install', () => {
  it('has no dev dependency installed', async () => {
    const installed = await readdir(path.join(dir, 'node_modules'));
    for (const dev of ['tsx', 'vitest', 'typescript', 'esbuild', '@netlify']) expect(installed).not.toContain(dev === '@netlify' ? '@netlify/dev' : dev);
    expect(installed).toContain('stripe');
  });

  it('refuses to start without its variables, in one line naming them', () => {
    let stderr = '';
    try {
      execFileSync(process.execPath, ['dist/backend.js'], { cwd: dir, env: { PATH: env.PATH }, stdio: 'pipe', encoding: 'utf8' });
    } catch (error) {
      stderr = String((error as { stderr: string }).stderr);
      expect((error as { status: number }).status).toBe(1);
    }
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('BACKEND_SHARED_SECRET is missing');
  });

  it('starts with plain node, answers /healthz, drains on SIGTERM and exits 0', async () => {
    child = spawn(process.execPath, ['dist/backend.js'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no backend.listening in: ${output}`)), 20_000);
      child!.stdout!.on('data', () => {
        const m = /"event":"backend.listening".*"port":(\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    // The drain window: still answering, 503 to health checks.
    let status = 200;
    for (let i = 0; i < 100 && status === 200; i++) status = (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
    expect(status).toBe(503);
    expect(await exited).toBe(0);
    expect(output).toContain('"event":"backend.stopped"');
    child = undefined;
  }, 30_000);
});
