/**
 * Local Redis for dev and tests: a real `redis-server` child process when one is on the PATH,
 * otherwise an in-memory `ioredis-mock`. Either sits behind dev/bridges/upstash-rest.ts.
 *
 * Written by hand because production uses Upstash over HTTP (REST), which has no local server;
 * the bridge needs an ioredis-shaped client to forward commands to.
 *
 * ioredis-mock gaps (checked with ioredis-mock 8.13 through the Upstash bridge): EVAL/EVALSHA run
 * Lua in the pure-JS fengari VM; an unknown sha fails with Redis's real "NOSCRIPT No matching
 * script. Please use EVAL." and EVAL caches the script, so Upstash's createScript().exec behaves
 * as with Redis (EVALSHA → NOSCRIPT → EVAL once, then EVALSHA hits). But:
 *  - no `cjson` (nor `cmsgpack`/`bit`) library inside Lua: scripts using it fail;
 *  - SCRIPT (LOAD/EXISTS/FLUSH) and e.g. ZUNIONSTORE are not implemented ("Unsupported command");
 *  - SET and ZADD options are case-sensitive (upper case only); the bridge upper-cases them.
 *    SET … KEEPTTL is ignored, ZADD … INCR misbehaves;
 *  - no type checks: INCR on a non-integer gives NaN (sent as null), HGET on a string gives null,
 *    never WRONGTYPE / "not an integer" errors;
 *  - no `call`/`callBuffer`; HGETALL replies with an object (the bridge flattens it).
 * Data is shared between mock instances with the same host:port, so each one gets a unique host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import RedisMock from 'ioredis-mock';
import type { RedisLike } from '../bridges/upstash-rest.js';
import { freePort } from './postgres.js';

export type { RedisLike };

export type RedisKind = 'redis-server' | 'ioredis-mock';

export interface LocalRedis {
  kind: RedisKind;
  client: RedisLike;
  stop(): Promise<void>;
}

/** Path of `redis-server` on the PATH, or null. */
export function findRedisServer(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export async function startRedisServer(): Promise<{ port: number; client: Redis; stop(): Promise<void> }> {
  // A free port can be taken by another process between freePort() and redis-server's bind (test files start
  // their stacks in parallel): then a new port, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisServerOnce();
    } catch (error) {
      if (attempt >= 5 || !/Address already in use/.test(String((error as Error).message))) throw error;
    }
  }
}

async function startRedisServerOnce(): Promise<{ port: number; client: Redis; stop(): Promise<void> }> {
  const bin = findRedisServer();
  if (!bin) throw new Error('redis-server not found: apt-get install -y redis-server');

  const dir = mkdtempSync(join(tmpdir(), 'wa-redis-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (c: Buffer) => (output = (output + c.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const onExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  let client: Redis | undefined;
  try {
    await waitForPing(port, exited, () => output);
    client = new Redis({ host: '127.0.0.1', port });
    await client.ping();
  } catch (err) {
    client?.disconnect();
    onExit();
    process.off('exit', onExit);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    port,
    client,
    stop: () =>
      (stopping ??= (async () => {
        client.disconnect();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
        process.off('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}

export function startEmbeddedRedis(): { client: RedisLike; kind: 'ioredis-mock'; stop(): Promise<void> } {
  const client = new RedisMock({ host: `embedded-${randomUUID()}`, port: 6379 });
  return {
    client,
    kind: 'ioredis-mock',
    async stop() {
      await client.flushall();
      client.disconnect();
    },
  };
}

/** 'real' requires redis-server; 'embedded' always uses ioredis-mock; 'auto' prefers redis-server. */
export async function startRedis(prefer: 'real' | 'embedded' | 'auto' = 'auto'): Promise<LocalRedis> {
  if (prefer === 'embedded' || (prefer === 'auto' && !findRedisServer())) return startEmbeddedRedis();
  const server = await startRedisServer();
  return { kind: 'redis-server', client: server.client, stop: server.stop };
}

async function waitForPing(port: number, exited: Promise<void>, output: () => string): Promise<void> {
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (dead) throw new Error(`redis-server exited before answering PING:\n${output()}`);
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING in 10s: ${String(err)}\n${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
}
