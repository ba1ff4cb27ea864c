/**
 * The whole shop on one machine: Postgres and Redis (real Debian servers, or embedded PGlite
 * and redis-server/ioredis-mock), the Neon and Upstash bridges in front of them, the Meta Graph
 * and Stripe stand-ins, and Netlify's own local runtime (@netlify/dev) serving netlify/functions
 * behind a small node:http server. Used by `npm start` and by the tests. Local-only: nothing in
 * netlify/ or lib/ imports this folder.
 */
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import workerThreads from 'node:worker_threads';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetlifyDev } from '@netlify/dev';
import { startNeonHttpBridge, type NeonHttpBridge } from './bridges/neon-http.js';
import { pgBackend } from './bridges/pg-backend.js';
import { pgliteBackend } from './bridges/pglite-backend.js';
import { startUpstashBridge, type UpstashBridge } from './bridges/upstash-rest.js';
import { startPostgres } from './services/postgres.js';
import { startRedis, type RedisKind } from './services/redis.js';
import { startGraphStandIn, type GraphStandIn } from './standins/graph.js';
import { startStripeStandIn, type StripeStandIn } from './standins/stripe.js';
import { localSecrets, localSecretValues } from './local-env.js';
import { readBody } from '../lib/http/body.js';
import { DomainError } from '../lib/http/errors.js';
import { sendWebResponse, toWebRequest } from '../lib/http/node.js';
import { domainErrorResponse } from '../lib/http/respond.js';
import { delayedUrl } from './delay-proxy.js';
import { demoCatalog } from './demo-catalog.js';
import { loadFunctions, type InProcessFunctions } from './invoke.js';
import { startScheduler, type LocalScheduler } from './schedule.js';
import { sharedBuild, type BuildRecord, type SharedBuild } from './netlify-build-share.js';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type StackOptions = {
  /** Port of the shop's HTTP server; 0 picks a free one. */
  port?: number;
  host?: string;
  /** 'real': Debian postgres + redis-server (tests). 'embedded': PGlite + redis-server if on PATH, else ioredis-mock. */
  data: 'real' | 'embedded';
  /** Which Redis to start when Upstash is not configured (default: 'real' with data 'real', else 'auto'). */
  redis?: 'real' | 'embedded' | 'auto';
  /** Persist embedded Postgres here (npm start); in memory when absent. */
  pgliteDir?: string;
  /** Use DATABASE_URL / UPSTASH_* / WHATSAPP_API_BASE / STRIPE_API_BASE and secrets from this env when set. */
  external?: Record<string, string | undefined>;
  /** Extra variables for the functions (e.g. BACKEND_MODE). */
  env?: Record<string, string>;
  seedDemoCatalog?: boolean;
  /** Graph stand-in posts sent → delivered → read after each message. */
  autoStatuses?: boolean;
  /** Benchmarks: one-way delay added to every connection to Postgres, Redis, Meta and Stripe. */
  networkDelayMs?: number;
  /**
   * How functions run: 'netlify' (default) through Netlify's local runtime, a worker per request as
   * in production's isolation; 'in-process' calls the handlers directly (dev/invoke.ts), ~1000× cheaper
   * per request, for suites that send thousands of requests.
   */
  functions?: 'netlify' | 'in-process';
  /** Extra routes served before the functions (e.g. the sandbox page). */
  routes?: (request: Request, stack: LocalStack) => Promise<Response | undefined>;
  /**
   * Netlify's local runtime builds into `.netlify/functions-serve` (npm start: kept between starts);
   * by default each stack builds into a folder of its own instead, so stacks in several processes
   * (test files in parallel) never rebuild each other's functions.
   */
  sharedBuildFolder?: boolean;
  /**
   * Run scheduled functions (`config.schedule`) on their schedule, as Netlify does on a published
   * deploy: true, or `{ everyMs }` to run them at a fixed interval instead (tests). Off by default.
   */
  schedule?: boolean | { everyMs: number };
};

export type LocalStack = {
  url: string;
  port: number;
  env: Record<string, string>;
  uses: Record<string, string>;
  graph?: GraphStandIn;
  stripe?: StripeStandIn;
  neonBridge?: NeonHttpBridge;
  upstashBridge?: UpstashBridge;
  redisKind?: RedisKind;
  /** What start-up rebuilt in Redis from Postgres (lib/stock-sync.ts). */
  redisRebuilt: { skus: number; holdsRestored: number };
  /** Netlify's local runtime (functions: 'netlify'). */
  dev?: NetlifyDev;
  /** The in-process functions (functions: 'in-process'); `invoke` also exposes the background work. */
  inProcess?: InProcessFunctions;
  /** Functions in process: loads a fresh copy of them (after an edit) and serves it from the next request. */
  reloadFunctions?: () => Promise<void>;
  /** Scheduled functions run by this stack (option `schedule`). */
  scheduler?: LocalScheduler;
  stop(): Promise<void>;
};

export async function startLocalStack(opts: StackOptions): Promise<LocalStack> {
  const ext = opts.external ?? {};
  const host = opts.host ?? '127.0.0.1';
  const stops: (() => Promise<void>)[] = [];
  let stopped = false;
  let devStart: Promise<NetlifyDev> | undefined;
  const stopAll = async () => {
    stopped = true;
    await devStart?.catch(() => {}); // a Netlify runtime still starting pushes its stop first
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
  const env: Record<string, string> = {};
  const uses: Record<string, string> = {};
  const pick = (...names: string[]) => names.map((n) => ext[n]).find((v) => v !== undefined && v !== '');
  // Checked before anything starts: a required value missing for another Graph API / Stripe fails by name.
  const secrets = localSecretValues(ext, { graph: !pick('WHATSAPP_API_BASE'), stripe: !(pick('STRIPE_API_BASE') || pick('STRIPE_SECRET_KEY', 'STRIPE_SECRET')) });

  try {
    // The shop's HTTP server listens first: its URL is part of the configuration.
    let handler: (req: Request) => Promise<Response> = async () => new Response('starting', { status: 503 });
    const server = http.createServer((req, res) => void serveNode(req, res, host, (r) => handler(r)));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, host, () => resolve()));
    const port = (server.address() as { port: number }).port;
    const url = `http://${host === '127.0.0.1' ? 'localhost' : host}:${port}`;
    stops.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

    // Postgres, reached through the Neon HTTP bridge unless a real Neon URL is configured.
    const externalDb = pick('DATABASE_URL', 'NETLIFY_DATABASE_URL');
    let neonBridge: NeonHttpBridge | undefined;
    if (externalDb && !/@(localhost|127\.0\.0\.1)[:/]/.test(externalDb)) {
      env.DATABASE_URL = externalDb;
      uses.postgres = 'DATABASE_URL (Neon)';
    } else {
      let backend;
      if (externalDb) {
        backend = pgBackend(externalDb);
        uses.postgres = 'local Postgres from DATABASE_URL via the Neon HTTP bridge';
      } else if (opts.data === 'real') {
        const pg = await startPostgres();
        stops.push(pg.stop);
        backend = pgBackend(pg.connectionString);
        uses.postgres = `postgres (Debian) on 127.0.0.1:${pg.port} via the Neon HTTP bridge`;
      } else {
        backend = pgliteBackend(opts.pgliteDir);
        uses.postgres = `embedded PGlite${opts.pgliteDir ? ` in ${path.relative(process.cwd(), opts.pgliteDir) || '.'}` : ' (in memory)'} via the Neon HTTP bridge`;
      }
      stops.push(() => backend.close());
      neonBridge = await startNeonHttpBridge({ backend, host });
      stops.push(neonBridge.close);
      env.DATABASE_URL = externalDb ?? 'postgresql://shop:local@localhost/shop';
      env.NEON_FETCH_ENDPOINT = neonBridge.url;
    }

    // Redis, reached through the Upstash REST bridge unless Upstash is configured.
    let upstashBridge: UpstashBridge | undefined;
    let redisKind: RedisKind | undefined;
    if (pick('UPSTASH_REDIS_REST_URL') && pick('UPSTASH_REDIS_REST_TOKEN')) {
      env.UPSTASH_REDIS_REST_URL = pick('UPSTASH_REDIS_REST_URL')!;
      env.UPSTASH_REDIS_REST_TOKEN = pick('UPSTASH_REDIS_REST_TOKEN')!;
      uses.redis = 'UPSTASH_REDIS_REST_URL';
    } else {
      const redis = await startRedis(opts.redis ?? (opts.data === 'real' ? 'real' : 'auto'));
      stops.push(redis.stop);
      redisKind = redis.kind;
      upstashBridge = await startUpstashBridge({ redis: redis.client, token: localSecrets.UPSTASH_REDIS_REST_TOKEN, host });
      stops.push(upstashBridge.close);
      env.UPSTASH_REDIS_REST_URL = upstashBridge.url;
      env.UPSTASH_REDIS_REST_TOKEN = localSecrets.UPSTASH_REDIS_REST_TOKEN;
      uses.redis = `${redis.kind === 'redis-server' ? 'redis-server' : 'in-process ioredis-mock (no redis-server on PATH)'} via the Upstash REST bridge`;
    }

    // Secrets: configured ones win; otherwise the local development values, each only while the stand-in it
    // belongs to runs (another Graph API never gets the stand-in's ids, token or catalog id).
    Object.assign(env, secrets);
    env.APP_BASE_URL = pick('APP_BASE_URL', 'BASE_URL') ?? url;
    for (const name of ['LOG_LEVEL', 'RESERVATION_TTL_SECONDS', 'MAX_QUANTITY_PER_LINE', 'MAX_ACTIVE_HOLDS_PER_CUSTOMER', 'SHOP_NAME', 'OPS_ALERT_WEBHOOK_URL', 'BACKEND_MODE', 'BACKEND_URL', 'TEMPLATE_LANGUAGE',
      'REMINDER_BEFORE_SECONDS', 'HOLD_EXTENSION_SECONDS', 'WAITLIST_HOLD_SECONDS', 'WAITLIST_MAX_PER_CUSTOMER', 'PROACTIVE_DAILY_CAP']) {
      const v = pick(name);
      if (v) env[name] = v;
    }

    // Meta Graph stand-in unless a real Graph API base is configured.
    let graph: GraphStandIn | undefined;
    if (pick('WHATSAPP_API_BASE')) {
      env.WHATSAPP_API_BASE = pick('WHATSAPP_API_BASE')!;
      uses.whatsapp = `Graph API at ${env.WHATSAPP_API_BASE}`;
    } else {
      graph = await startGraphStandIn({
        accessToken: env.WHATSAPP_ACCESS_TOKEN!,
        appSecret: env.WHATSAPP_APP_SECRET!,
        phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID!,
        businessNumber: env.WHATSAPP_BUSINESS_NUMBER_E164!,
        webhookUrl: `${url}/.netlify/functions/webhook`,
        autoStatuses: opts.autoStatuses ?? false,
        ...(env.WHATSAPP_CATALOG_ID ? { catalogId: env.WHATSAPP_CATALOG_ID } : {}),
        host,
      });
      stops.push(graph.close);
      env.WHATSAPP_API_BASE = graph.baseUrl;
      uses.whatsapp = `Meta Graph stand-in at ${graph.baseUrl}`;
    }

    // Stripe stand-in unless a real Stripe API base / live key is configured.
    let stripe: StripeStandIn | undefined;
    if (pick('STRIPE_API_BASE') || pick('STRIPE_SECRET_KEY', 'STRIPE_SECRET')) {
      if (pick('STRIPE_API_BASE')) env.STRIPE_API_BASE = pick('STRIPE_API_BASE')!;
      uses.stripe = pick('STRIPE_API_BASE') ? `Stripe API at ${env.STRIPE_API_BASE}` : 'Stripe (api.stripe.com)';
    } else {
      stripe = await startStripeStandIn({
        secretKey: env.STRIPE_SECRET_KEY!,
        webhookSecret: env.STRIPE_WEBHOOK_SECRET!,
        webhookUrl: `${url}/.netlify/functions/payment-callback`,
        host,
      });
      stops.push(stripe.close);
      env.STRIPE_API_BASE = stripe.url;
      uses.stripe = `Stripe stand-in at ${stripe.url}`;
    }

    Object.assign(env, opts.env ?? {});
    if (opts.networkDelayMs) {
      for (const name of ['NEON_FETCH_ENDPOINT', 'UPSTASH_REDIS_REST_URL', 'WHATSAPP_API_BASE', 'STRIPE_API_BASE'])
        if (env[name]) env[name] = await delayedUrl(env[name]!, opts.networkDelayMs, stops);
    }
    // Functions run in this process (NetlifyDev) and read process.env through lib/config.
    Object.assign(process.env, env, { UPSTASH_DISABLE_TELEMETRY: '1' });

    const { migrate } = await import('../lib/migrations.js');
    await migrate(path.join(projectRoot, 'migrations'));
    if (opts.seedDemoCatalog ?? true) await seedWhenEmpty();
    // Redis may have lost everything (an embedded one starts empty every time): holds of open orders
    // and every counter are rebuilt from Postgres before the first request.
    const { rebuildRedisStock } = await import('../lib/orders/stock-resync.js');
    const redisRebuilt = await rebuildRedisStock();

    // Netlify's local runtime serves public/ with netlify.toml's headers and redirects, and (unless
    // functions run in process) the functions, each invocation in a fresh worker.
    // With functions in process it serves only what they don't (public/, unknown paths), so it starts at
    // the first such request: loading @netlify/dev costs seconds of CPU, which most stacks never need.
    const inProcessFunctions = opts.functions === 'in-process';
    const netlifyDev = () => (devStart ??= startNetlifyDev({ functions: !inProcessFunctions, ownBuildFolder: !opts.sharedBuildFolder }, stops));
    const [inProcess, dev] = await Promise.all([inProcessFunctions ? loadFunctions() : undefined, inProcessFunctions ? undefined : netlifyDev()]);
    // The first request waits for the initial build of every function; take that wait here, so the
    // shop is ready when start-up returns (and a test's first request doesn't time out).
    if (dev) await dev.handle(new Request(`${url}/.netlify/functions/webhook`, { method: 'OPTIONS' }));

    const stack: LocalStack = { url, port, env, uses, graph, stripe, neonBridge, upstashBridge, redisKind, redisRebuilt, dev, inProcess, stop: stopAll };
    if (inProcess) {
      stack.reloadFunctions = async () => {
        stack.inProcess = await loadFunctions({ fresh: true });
      };
    }
    handler = async (request) => {
      const custom = await opts.routes?.(request, stack);
      if (custom) return custom;
      const response = (stack.inProcess && (await stack.inProcess.handle(request))?.response) || (stopped ? new Response('stopping', { status: 503 }) : await (await netlifyDev()).handle(await withinNetlifyLimit(request)));
      return response ?? new Response(JSON.stringify({ error: 'not found' }), { status: 404, headers: { 'content-type': 'application/json' } });
    };
    if (opts.schedule) {
      const scheduler = await startScheduler({
        url,
        everyMs: typeof opts.schedule === 'object' ? opts.schedule.everyMs : undefined,
        // Through the same server as any request: in process, or Netlify's runtime (which, like
        // production, answers a scheduled function's POST only as a scheduled event).
        run: (request) => handler(request),
      });
      stack.scheduler = scheduler;
      stops.push(() => scheduler.stop());
    }
    return stack;
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function startNetlifyDev(opts: { functions: boolean; ownBuildFolder: boolean }, stops: (() => Promise<void>)[]): Promise<NetlifyDev> {
  const { functions } = opts;
  const { NetlifyDev } = await import('@netlify/dev');
  let shared: SharedBuild | undefined;
  let registry: Promise<Registry> | undefined;
  if (functions) {
    const { FunctionsHandler } = await import('@netlify/functions-dev');
    loaderFreeFunctionWorkers();
    reuseFunctionBuilds(FunctionsHandler);
    if (opts.ownBuildFolder) {
      shared = await sharedBuild();
      registry = buildFolderForNextStart(FunctionsHandler, shared?.folder ?? (await ownBuildFolder()), shared?.role === 'reuse' ? shared.record : undefined);
    }
  }
  const dev = new NetlifyDev({
    projectRoot,
    functions: { enabled: functions },
    blobs: { enabled: false },
    edgeFunctions: { enabled: false },
    database: { enabled: false },
    environmentVariables: { enabled: false },
    geolocation: { enabled: false },
    skipGitignore: true,
  } as ConstructorParameters<typeof NetlifyDev>[0]);
  try {
    await dev.start();
    stops.push(async () => {
      await (dev as unknown as { stop?: () => Promise<void> }).stop?.();
    });
    if (shared?.role === 'build') {
      const functionsRegistry = await registry!;
      await functionsRegistry.scanned;
      const record: BuildRecord = {};
      for (const func of functionsRegistry.functions.values()) record[func.name] = await func.getBuildData();
      await shared.publish(record);
    }
  } catch (error) {
    if (shared?.role === 'build') shared.fail();
    throw error;
  }
  return dev;
}

/**
 * @netlify/dev builds every function into `<projectRoot>/.netlify/functions-serve/<name>` (a private
 * field set from projectRoot), so two stacks in two processes rebuild each other's functions, and
 * a temporary projectRoot of symlinks doesn't work (its bundler copies a symlinked source folder as
 * a link). Its function registry keeps the folder in a public field read at each build: the next
 * registry created (NetlifyDev.start constructs it) gets the folder given here before its first scan.
 */
const pendingBuildFolders: { folder: string; record?: BuildRecord; registry: (r: Registry) => void }[] = [];
type FunctionsHandlerClass = typeof import('@netlify/functions-dev').FunctionsHandler;
type BuiltFunction = { name: string; runtime: { getBuildFunction: (...args: unknown[]) => Promise<unknown> }; getBuildData(): Promise<unknown> };
type Registry = {
  destPath: string;
  functions: Map<string, BuiltFunction>;
  scan: (dirs: unknown[]) => Promise<unknown>;
  buildFunctionAndWatchFiles: (func: BuiltFunction, firstLoad?: boolean) => Promise<unknown>;
  ownBuildFolder?: boolean;
  scanned?: Promise<unknown>;
  record?: BuildRecord;
};

/**
 * `.netlify/functions-serve-<pid>-<random>`. Removed when this process exits, not when the stack
 * stops (work a function handed to waitUntil may still load modules from it), and folders of
 * processes that are gone (killed) are removed at the next start.
 */
async function ownBuildFolder(): Promise<string> {
  const parent = path.join(projectRoot, '.netlify');
  await mkdir(parent, { recursive: true });
  for (const name of await readdir(parent)) {
    const pid = Number(/^functions-serve-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || processAlive(pid)) continue;
    await rm(path.join(parent, name), { recursive: true, force: true }).catch(() => {});
  }
  const folder = await mkdtemp(path.join(parent, `functions-serve-${process.pid}-`));
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
function buildFolderForNextStart(FunctionsHandler: FunctionsHandlerClass, folder: string, record?: BuildRecord): Promise<Registry> {
  const probe = new FunctionsHandler({ config: { get: () => ({}) }, destPath: folder, projectRoot, settings: {} } as unknown as ConstructorParameters<typeof FunctionsHandler>[0]);
  const proto = Object.getPrototypeOf((probe as unknown as { registry: Registry }).registry) as Registry & { ownBuildFolders?: boolean };
  if (!proto.ownBuildFolders) {
    const scan = proto.scan;
    proto.scan = function (this: Registry, dirs: unknown[]) {
      if (!this.ownBuildFolder) {
        this.ownBuildFolder = true;
        const pending = pendingBuildFolders.shift();
        if (pending) {
          this.destPath = pending.folder;
          this.record = pending.record;
          pending.registry(this);
        }
      }
      return (this.scanned = scan.call(this, dirs));
    };
    // A function of a shared build (dev/netlify-build-share.ts) takes its recorded build data instead of building.
    const buildFunctionAndWatchFiles = proto.buildFunctionAndWatchFiles;
    proto.buildFunctionAndWatchFiles = function (this: Registry, func: BuiltFunction, firstLoad?: boolean) {
      const built = this.record?.[func.name];
      if (built && firstLoad) {
        const runtime = func.runtime;
        func.runtime = {
          ...runtime,
          getBuildFunction: async () => {
            func.runtime = runtime; // a later rebuild (a source edited) builds as usual
            return async () => built;
          },
        };
      }
      return buildFunctionAndWatchFiles.call(this, func, firstLoad);
    };
    proto.ownBuildFolders = true;
  }
  return new Promise((resolve) => pendingBuildFolders.push({ folder, record, registry: resolve }));
}

/**
 * NetlifyDev runs every invocation in a fresh worker thread, which by default inherits the parent's
 * exec arguments: under tsx or vitest that boots their TypeScript loader in each worker (~2.5 s per
 * request). Functions are already bundled to plain JS, so their workers need no loader.
 */
function loaderFreeFunctionWorkers(): void {
  const Original = workerThreads.Worker;
  if ((Original as { loaderFree?: boolean }).loaderFree) return;
  class FunctionWorker extends Original {
    static loaderFree = true;
    constructor(filename: string | URL, options: workerThreads.WorkerOptions = {}) {
      super(filename, { execArgv: [], ...options });
    }
  }
  workerThreads.Worker = FunctionWorker;
  syncBuiltinESMExports();
}

/**
 * @netlify/dev builds a function anew for every request, into a throwaway directory (~2 s for a
 * function that bundles stripe). Its registry already builds each function once at start into
 * .netlify/functions-serve and rebuilds it when a source file changes, so invocations reuse that
 * build: the same code, edits still picked up, and requests as fast as the function itself.
 */
function reuseFunctionBuilds(FunctionsHandler: FunctionsHandlerClass): void {
  type Invoke = (options: { buildDirectory?: string }) => Promise<Response>;
  type Func = { invoke: Invoke; buildData?: { buildPath?: string }; reusesBuild?: boolean };
  const proto = FunctionsHandler.prototype as unknown as { invoke: (request: unknown, route: unknown, func: Func, buildDirectory: unknown) => Promise<Response>; reusesBuilds?: boolean };
  if (proto.reusesBuilds) return;
  const original = proto.invoke;
  proto.invoke = function (this: unknown, request: unknown, route: unknown, func: Func, buildDirectory: unknown) {
    const handler = this as { globalBuildDirectory?: string; registry?: { destPath?: string } };
    if (handler.registry?.destPath) handler.globalBuildDirectory = handler.registry.destPath;
    if (!func.reusesBuild) {
      const invoke = func.invoke.bind(func);
      func.invoke = (options) => invoke(func.buildData?.buildPath ? { ...options, buildDirectory: undefined } : options);
      func.reusesBuild = true;
    }
    return original.call(this, request, route, func, buildDirectory);
  };
  proto.reusesBuilds = true;
}

async function seedWhenEmpty(): Promise<void> {
  const { db } = await import('../lib/db.js');
  const { upsertCatalogProduct } = await import('../lib/catalog/index.js');
  const [row] = await db()`SELECT count(*)::int AS n FROM variants`;
  if (Number(row?.n) > 0) return;
  for (const product of demoCatalog) await upsertCatalogProduct(product);
}

/** Netlify's limit on a synchronous function's request body (6 MB). */
const NETLIFY_REQUEST_LIMIT = 6 * 1000 * 1000;

/**
 * Netlify's local runtime reads a request's whole body before the function runs; in front of it the
 * body is read here, through the same bounded reader, up to Netlify's own limit (the function then
 * applies its route's limit). In process, the functions read the streamed body themselves.
 */
async function withinNetlifyLimit(request: Request): Promise<Request> {
  if (!request.body) return request;
  try {
    const body = await readBody(request, NETLIFY_REQUEST_LIMIT);
    return new Request(request, { body: body as Uint8Array<ArrayBuffer> });
  } catch (error) {
    if (error instanceof DomainError) throw new BodyRefused(domainErrorResponse(error));
    throw error;
  }
}

class BodyRefused extends Error {
  constructor(readonly response: Response) {
    super('request body refused');
  }
}

/** node:http ⇄ fetch Request/Response, keeping the raw body bytes exactly as received. */
async function serveNode(req: http.IncomingMessage, res: http.ServerResponse, host: string, handle: (r: Request) => Promise<Response>) {
  try {
    const request = await toWebRequest(req, host);
    let response: Response;
    try {
      response = await handle(request);
    } catch (error) {
      if (!(error instanceof BodyRefused)) throw error;
      response = error.response;
    }
    await sendWebResponse(res, response, request.method);
  } catch (error) {
    console.error('local server error', error);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'local server error' }));
  }
}
