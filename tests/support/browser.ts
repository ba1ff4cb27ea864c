/**
 * Headless Chromium for the page tests: Debian's `chromium` driven by playwright-core (never a
 * downloaded browser), in a fresh profile, recording every http(s) URL any page asked for.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { projectRoot } from '../../dev/stack.js';

export const WAIT = 90_000; // the machine running the tests may be busy
export const screenshots = path.join(projectRoot, process.env.UPDATE_SCREENSHOTS ? 'docs/screenshots' : 'test-artifacts/screenshots');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export type Browser = { context: BrowserContext; requested: Set<string> };

/** Starts Chromium before the file's tests (registered before any later beforeAll) and closes it after. */
export function useBrowser(name: string): () => Browser {
  let profileDir: string | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    // A fresh --user-data-dir: Playwright passes it for a persistent context (it refuses it in `args`).
    profileDir = mkdtempSync(path.join(os.tmpdir(), `${name}-chromium-`));
    const context = await chromium.launchPersistentContext(profileDir, { executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS, viewport: { width: 1280, height: 860 }, timeout: WAIT });
    context.setDefaultTimeout(WAIT);
    const requested = new Set<string>();
    context.on('request', (r) => {
      if (/^https?:/.test(r.url())) requested.add(r.url());
    });
    mkdirSync(screenshots, { recursive: true });
    browser = { context, requested };
  }, 120_000);
  afterAll(async () => {
    await browser?.context.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  }, 60_000);
  return () => {
    if (!browser) throw new Error('browser not started');
    return browser;
  };
}
