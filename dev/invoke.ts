/**
 * Calls the functions in netlify/functions in this process, the way Netlify's runtime calls a v2
 * function: a `Request` and a `Context` (params from its path, `waitUntil`). Routing follows
 * Netlify's: a function's paths in the one route table (lib/http/routes.ts, which its `config.path`
 * agrees with), else `/.netlify/functions/<name>`.
 *
 * The local runtime (@netlify/dev) runs each invocation in a fresh worker (~1 s); the reliability
 * suite and the benchmark, which send thousands of requests, invoke here instead. Local-only.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Context } from '@netlify/functions';
import { functionPaths, matchPath, rawSegments } from '../lib/http/routes.js';

const functionsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../netlify/functions');

type Handler = (request: Request, context: Context) => Promise<Response> | Response;
type FunctionModule = { default: Handler; config?: { path?: string | string[]; schedule?: string } };

export type Invocation = {
  response: Response;
  /** Everything the function handed to `context.waitUntil` (work after the response), settled. */
  background: Promise<void>;
};

type Route = { name: string; path: string };

export type InProcessFunctions = {
  names: string[];
  /** Routes a request as Netlify would and invokes the matching function; undefined when none matches. */
  handle(request: Request): Promise<Invocation | undefined>;
  /** Invokes one function by name (e.g. the scheduled cleanup), with explicit params. */
  invoke(name: string, request: Request, params?: Record<string, string>): Promise<Invocation>;
};

export type LoadOptions = {
  /**
   * Import a fresh copy of the functions and everything they import (tsx's namespaced import, under
   * `npm start`), so an edit takes effect without a restart; the old copy keeps serving until then.
   */
  fresh?: boolean;
};

/** Every function module by name (through the caller's TypeScript loader: tsx or vitest). */
async function importFunctions(opts: LoadOptions = {}): Promise<Map<string, FunctionModule>> {
  let load = (url: string) => import(url) as Promise<FunctionModule>;
  if (opts.fresh) {
    const { register } = await import('tsx/esm/api');
    const scope = register({ namespace: `functions-${Date.now()}-${Math.random().toString(36).slice(2)}` });
    load = (url) => scope.import(url, import.meta.url) as Promise<FunctionModule>;
  }
  const modules = new Map<string, FunctionModule>();
  for (const file of readdirSync(functionsDir).filter((f) => /\.(ts|mts|js|mjs)$/.test(f)).sort()) {
    const name = file.replace(/\.[^.]+$/, '');
    modules.set(name, await load(pathToFileURL(path.join(functionsDir, file)).href));
  }
  return modules;
}

/** The functions with a `config.schedule` (cron, UTC), as Netlify reads them. */
export async function scheduledFunctions(): Promise<{ name: string; schedule: string }[]> {
  return [...(await importFunctions())].flatMap(([name, mod]) => (typeof mod.config?.schedule === 'string' ? [{ name, schedule: mod.config.schedule }] : []));
}

/** Loads every function module once (through the caller's TypeScript loader: tsx or vitest). */
export async function loadFunctions(opts: LoadOptions = {}): Promise<InProcessFunctions> {
  const modules = await importFunctions(opts);
  const routes: Route[] = [];
  for (const name of modules.keys()) {
    // The one route table (lib/http/routes.ts), which each function's config.path agrees with.
    for (const path of functionPaths(name)) routes.push({ name, path });
  }

  const invoke = async (name: string, request: Request, params: Record<string, string> = {}): Promise<Invocation> => {
    const mod = modules.get(name);
    if (!mod) throw new Error(`no function named ${name}`);
    const pending: Promise<unknown>[] = [];
    const context = {
      params,
      waitUntil: (p: Promise<unknown>) => void pending.push(Promise.resolve(p).catch(() => {})),
      requestId: `inproc-${Math.random().toString(36).slice(2)}`,
      url: new URL(request.url),
      site: { id: 'local', name: 'local', url: new URL(request.url).origin },
      deploy: { context: 'dev', id: 'local', published: false },
      account: { id: 'local' },
      server: { region: 'local' },
      geo: {},
      ip: '127.0.0.1',
      cookies: { get: () => undefined, set: () => {}, delete: () => {} },
      json: (body: unknown, init?: ResponseInit) => Response.json(body, init),
      log: console.log,
      next: () => Promise.reject(new Error('context.next() is for edge functions')),
    } as unknown as Context;
    const response = await mod.default(request, context);
    const background = (async () => {
      // waitUntil may be called again by work already running: settle until nothing is left.
      for (let done = 0; done < pending.length; ) {
        const batch = pending.slice(done);
        done = pending.length;
        await Promise.all(batch);
      }
    })();
    return { response, background };
  };

  return {
    names: [...modules.keys()],
    invoke,
    async handle(request) {
      const { pathname } = new URL(request.url);
      const segments = rawSegments(pathname);
      for (const route of routes) {
        const raw = matchPath(route.path, segments);
        if (!raw) continue;
        const params: Record<string, string> = {};
        for (const [k, v] of Object.entries(raw)) {
          try {
            params[k] = decodeURIComponent(v);
          } catch {
            params[k] = v;
          }
        }
        return invoke(route.name, request, params);
      }
      const direct = /^\/\.netlify\/functions\/([^/]+)\/?$/.exec(pathname);
      if (direct && modules.has(direct[1]!) && !routes.some((r) => r.name === direct[1])) return invoke(direct[1]!, request);
      return undefined;
    },
  };
}
