/**
 * Once per test run (vitest globalSetup), before any file starts: a scratch directory, on tmpfs (/dev/shm) when it
 * has room, that becomes every test file's TMPDIR (each file's Postgres and Redis data, Chromium profile, bundles:
 * no disk writes, and no slow deletes after); in it one initdb'd Postgres data directory that every file's own
 * Postgres copies instead of running initdb (dev/services/postgres.ts), and the place of the one build of the
 * functions that the files on Netlify's local runtime share (dev/netlify-build-share.ts). All removed at the end.
 */
import { chmodSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SHARED_BUILD_ENV } from '../../dev/netlify-build-share.js';
import { findPostgresBin, initPostgresTemplate, POSTGRES_TEMPLATE_ENV } from '../../dev/services/postgres.js';

export default async function setup(): Promise<() => void> {
  const scratch = mkdtempSync(path.join(scratchParent(), 'wa-tests-'));
  chmodSync(scratch, 0o755); // as root, Postgres runs as `postgres` and reaches its data directories through it
  process.env.TMPDIR = scratch; // the test files' processes inherit this environment
  process.env[SHARED_BUILD_ENV] = path.join(scratch, 'netlify-functions');
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
