/**
 * Once per test run (vitest globalSetup), before any file starts: a scratch directory, on tmpfs (/dev/shm) when it
 * has room, that becomes every test file's TMPDIR (each file's Postgres and Redis data, Chromium profile, bundles:
 * no disk writes, and no slow deletes after), and one initdb'd Postgres data directory that every file's own
 * Postgres copies instead of running initdb (dev/services/postgres.ts). Both are removed at the end of the run.
 */
import { chmodSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findPostgresBin, initPostgresTemplate, POSTGRES_TEMPLATE_ENV } from '../../dev/services/postgres.js';

export default async function setup(): Promise<() => void> {
  const scratch = mkdtempSync(path.join(scratchParent(), 'wa-tests-'));
  chmodSync(scratch, 0o755); // as root, Postgres runs as `postgres` and reaches its data directories through it
  process.env.TMPDIR = scratch; // the test files' processes inherit this environment
  if (findPostgresBin()) process.env[POSTGRES_TEMPLATE_ENV] = await initPostgresTemplate(mkdtempSync(path.join(scratch, 'pg-template-')));
  return () => rmSync(scratch, { recursive: true, force: true });
}

/** /dev/shm when it is there with room to spare (a container's default 64 MB is not), else the usual temp dir. */
function scratchParent(): string {
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > 2 * 1024 ** 3) return '/dev/shm';
  } catch {
    // no /dev/shm
  }
  return os.tmpdir();
}
