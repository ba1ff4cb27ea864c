/**
 * Throwaway local Postgres for dev and tests: initdb into a fresh temp dir, start `postgres` on
 * 127.0.0.1 with a free port, trust auth, fsync off; `stop()` shuts it down and deletes the dir.
 *
 * Written by hand because production uses Neon over HTTP (see dev/bridges/neon-http.ts), and
 * locally we want a real Postgres process behind that bridge without Docker or a system service.
 * Uses the Debian packages' binaries (/usr/lib/postgresql/<version>/bin). Postgres refuses to run
 * as root, so when we are root, initdb and postgres run as the `postgres` system user.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface LocalPostgres {
  connectionString: string;
  port: number;
  stop(): Promise<void>;
}

/** Newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, or null. */
export function findPostgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  return null;
}

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A freshly initialised data directory to copy instead of running initdb (a test run makes one for all
 * its files: initdb costs about a second of CPU, a copy next to nothing). Never started itself.
 */
export const POSTGRES_TEMPLATE_ENV = 'LOCAL_PG_TEMPLATE';

/** Runs initdb into `<dir>/data` and returns that path (for POSTGRES_TEMPLATE_ENV). */
export async function initPostgresTemplate(dir: string): Promise<string> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('postgres not found: apt-get install -y postgresql');
  const asUser = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (asUser) chownSync(dir, asUser.uid, asUser.gid);
  const dataDir = join(dir, 'data');
  await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], asUser);
  return dataDir;
}

function initdb(bin: string, dataDir: string, asUser?: { uid: number; gid: number }): Promise<void> {
  const template = process.env[POSTGRES_TEMPLATE_ENV];
  // cp -a keeps the owner (postgres) and the modes postgres insists on.
  if (template && existsSync(join(template, 'PG_VERSION'))) return run('cp', ['-a', template, dataDir]);
  return run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], asUser);
}

export async function startPostgres(): Promise<LocalPostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('postgres not found: apt-get install -y postgresql');

  const dir = mkdtempSync(join(tmpdir(), 'wa-pg-'));
  const dataDir = join(dir, 'data');
  // As root, run everything as `postgres` (spawn's uid/gid) and give it the temp dir.
  const asUser = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (asUser) chownSync(dir, asUser.uid, asUser.gid);

  let child: ChildProcess | undefined;
  const onExit = () => {
    child?.kill('SIGQUIT'); // immediate shutdown; 'exit' handlers must be synchronous
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  try {
    await initdb(bin, dataDir, asUser);

    const port = await freePort();
    child = spawn(
      join(bin, 'postgres'),
      [
        '-D', dataDir,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        '-c', `unix_socket_directories=${dir}`,
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=100',
      ],
      { ...asUser, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));

    const connectionString = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    await waitReady(connectionString, exited, () => stderr);

    let stopping: Promise<void> | undefined;
    return {
      connectionString,
      port,
      stop: () =>
        (stopping ??= (async () => {
          child?.kill('SIGINT'); // fast shutdown
          const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
          process.off('exit', onExit);
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    onExit();
    process.off('exit', onExit);
    throw err;
  }
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root but there is no `postgres` system user (apt-get install -y postgresql creates it)');
  }
}

function run(cmd: string, args: string[], asUser?: { uid: number; gid: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...asUser, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}:\n${out}`))));
  });
}

async function waitReady(connectionString: string, exited: Promise<number | null>, stderr: () => string): Promise<void> {
  let dead: number | null | undefined;
  void exited.then((code) => (dead = code));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (dead !== undefined) throw new Error(`postgres exited with ${dead} before accepting connections:\n${stderr()}`);
    const client = new pg.Client({ connectionString });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`postgres did not become ready in 30s: ${String(err)}\n${stderr()}`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      await client.end().catch(() => {});
    }
  }
}
