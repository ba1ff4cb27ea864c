/**
 * Local stand-in for Upstash's Redis REST API, so the unmodified `@upstash/redis` client can run
 * against a local redis-server (or ioredis-mock).
 *
 * Written by hand because the production client only speaks HTTP+JSON while Redis speaks RESP;
 * this file translates between the two. Wire format: see
 * docs/local-wire-formats.md ("Upstash REST").
 *
 *   POST /            one command        ["set","k","v"]          → {"result": …}
 *   POST /pipeline    commands, in order [["set","k","v"],[…]]    → [{"result": …} | {"error": "…"}, …]
 *   POST /multi-exec  commands, atomic   (real MULTI … EXEC)      → same as /pipeline
 *
 * Replies are fetched as Buffers so binary values survive; with `Upstash-Encoding: base64` every
 * string (also inside nested arrays) is base64, numbers and nulls stay as they are.
 * Redis's own error text is passed through (e.g. "NOSCRIPT …", which `createScript().exec` needs
 * to fall back from EVALSHA to EVAL).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { faults } from '../faults.js';

/** An ioredis client or an ioredis-mock instance. */
export type RedisLike = Redis;

export interface UpstashBridge {
  /** Base URL for `new Redis({ url, token })` from @upstash/redis, e.g. http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** `requests`: HTTP round trips (one per POST); `commands`: Redis commands executed. */
  stats: { requests: number; commands: number };
  resetStats(): void;
  close(): Promise<void>;
}

/** A Redis error reply (answered with 400 or a per-command `error`), as opposed to a broken connection (500). */
class RedisReplyError extends Error {}

/** Commands that would break the single shared connection (or need a streaming endpoint). */
const REFUSED = new Set([
  'subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe', 'monitor',
  'quit', 'reset', 'select', 'multi', 'exec', 'discard', 'watch', 'unwatch', 'shutdown',
]);

type Command = [name: string, ...args: string[]];
type Reply = { result: unknown } | { error: string };

export async function startUpstashBridge(opts: {
  redis: RedisLike;
  token: string;
  port?: number;
  host?: string;
}): Promise<UpstashBridge> {
  const { redis, token } = opts;
  const host = opts.host ?? '127.0.0.1';
  const stats = { requests: 0, commands: 0 };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      sendJson(res, isReplyError(err) ? 400 : 500, { error: message });
    });
  });
  // Idle keep-alive connections are closed by the client, never by this server: a server closing one
  // at its 5 s timeout races a client reusing it under load ("fetch failed").
  server.keepAliveTimeout = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const syncToken = req.headers['upstash-sync-token'];
    if (typeof syncToken === 'string') res.setHeader('upstash-sync-token', syncToken);
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'ERR only POST is supported' });
    if (!faults.intercept('redis', req, res)) return;
    stats.requests++;
    if (req.headers.authorization !== `Bearer ${token}`) return sendJson(res, 401, { error: 'Unauthorized' });

    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    const body = parseBody(await readBody(req));
    faults.label(req, (Array.isArray(body) && Array.isArray(body[0]) ? body : [body]).map((c) => (Array.isArray(c) ? `${c[0]} ${typeof c[1] === 'string' && !/^[0-9a-f]{40}$/.test(c[1]) ? c[1] : ''}` : '')).join(', '));
    if (!(await faults.gate(req, res))) return;

    if (path === '/') {
      const cmd = toCommand(body);
      stats.commands++;
      return sendJson(res, 200, { result: encode(await send(redis, cmd), base64) });
    }
    if (path === '/pipeline' || path === '/multi-exec') {
      if (!Array.isArray(body) || body.length === 0) throw new RedisReplyError('ERR expected a non-empty array of commands');
      const cmds = body.map(toCommand);
      stats.commands += cmds.length;
      const replies = path === '/pipeline' ? await pipeline(redis, cmds) : await multiExec(redis, cmds);
      return sendJson(res, 200, replies.map((r) => ('error' in r ? r : { result: encode(r.result, base64) })));
    }
    return sendJson(res, 404, { error: `ERR unknown endpoint ${path}` });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    port,
    stats,
    resetStats() {
      stats.requests = 0;
      stats.commands = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Queue one command on a client, pipeline or multi. Real ioredis: `callBuffer` with the name
 * upper-cased, which skips ioredis's reply transformers (HGETALL would become an object).
 * ioredis-mock has no `callBuffer`; every command it knows has a `<name>Buffer` method.
 */
function queue(target: unknown, [name, ...args]: Command): Promise<unknown> {
  const lower = name.toLowerCase();
  if (REFUSED.has(lower)) throw new RedisReplyError(`ERR command '${name}' is not supported by this bridge`);
  const t = target as Record<string, unknown>;
  if (typeof t.callBuffer === 'function') return t.callBuffer(name.toUpperCase(), ...args) as Promise<unknown>;
  const fn = t[`${lower}Buffer`];
  if (!/^[a-z_]+$/.test(lower) || typeof fn !== 'function') throw new RedisReplyError(`ERR unknown command '${name}'`);
  return fn.apply(target, mockOptionCase(lower, args)) as Promise<unknown>;
}

const ZADD_OPTIONS = new Set(['nx', 'xx', 'gt', 'lt', 'ch', 'incr']);

/**
 * ioredis-mock only recognises upper-case SET and ZADD options, and @upstash/redis sends them in
 * lower case (`["set","k","v","nx","ex",60]`): without this, SET NX would overwrite and EX be lost.
 * SET: everything after the value is an option or a number. ZADD: options sit between key and scores.
 */
function mockOptionCase(name: string, args: string[]): string[] {
  if (name === 'set') return args.map((a, i) => (i >= 2 ? a.toUpperCase() : a));
  if (name === 'zadd') {
    const out = [...args];
    for (let i = 1; i < out.length && ZADD_OPTIONS.has(out[i]!.toLowerCase()); i++) out[i] = out[i]!.toUpperCase();
    return out;
  }
  return args;
}

async function send(redis: RedisLike, cmd: Command): Promise<unknown> {
  try {
    return await queue(redis, cmd);
  } catch (err) {
    // ioredis-mock throws plain Errors / TypeErrors for Redis-level failures: they are replies too.
    throw isConnectionError(err) ? err : new RedisReplyError(errorText(err));
  }
}

async function pipeline(redis: RedisLike, cmds: Command[]): Promise<Reply[]> {
  if (typeof (redis as unknown as Record<string, unknown>).callBuffer !== 'function') {
    // ioredis-mock: no network to save, and running one by one turns unknown commands into per-command errors.
    const replies: Reply[] = [];
    for (const cmd of cmds) replies.push(await send(redis, cmd).then((result) => ({ result }), toReplyError));
    return replies;
  }
  const p = redis.pipeline();
  const early: (Reply | undefined)[] = cmds.map((cmd) => {
    try {
      void queue(p, cmd);
      return undefined;
    } catch (err) {
      return { error: errorText(err) };
    }
  });
  const results = (await p.exec()) ?? [];
  let i = 0;
  return early.map((e) => e ?? fromTuple(results[i++]));
}

async function multiExec(redis: RedisLike, cmds: Command[]): Promise<Reply[]> {
  const m = redis.multi();
  for (const cmd of cmds) void queue(m, cmd); // a refused/unknown command throws here: nothing ran
  let results: [Error | null, unknown][] | null;
  try {
    results = await m.exec();
  } catch (err) {
    // EXECABORT: a command was rejected while queueing; the transaction did not run.
    const previous = (err as { previousErrors?: Error[] }).previousErrors?.map((e) => e.message) ?? [];
    const text = errorText(err) + (previous.length ? ` (${previous.join('; ')})` : '');
    throw isConnectionError(err) ? err : new RedisReplyError(text);
  }
  if (!results) throw new RedisReplyError('EXECABORT transaction aborted');
  return results.map(fromTuple);
}

function fromTuple(tuple: [Error | null, unknown] | undefined): Reply {
  if (!tuple) return { error: 'ERR no reply' };
  return tuple[0] ? { error: errorText(tuple[0]) } : { result: tuple[1] };
}

function toReplyError(err: unknown): Reply {
  if (isConnectionError(err)) throw err;
  return { error: errorText(err) };
}

/** Reply → JSON: strings (base64 when asked), integers as numbers, nil as null, arrays recursively. */
function encode(value: unknown, base64: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString(base64 ? 'base64' : 'utf8');
  if (typeof value === 'string') return base64 ? Buffer.from(value, 'utf8').toString('base64') : value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (Array.isArray(value)) return value.map((v) => encode(v, base64));
  if (value instanceof Error) return encode(value.message, base64);
  if (typeof value === 'object') return encode(Object.entries(value).flat(), base64); // ioredis-mock HGETALL
  return encode(String(value), base64);
}

function toCommand(raw: unknown): Command {
  if (!Array.isArray(raw) || raw.length === 0 || typeof raw[0] !== 'string') {
    throw new RedisReplyError('ERR expected a command as a JSON array, e.g. ["get","key"]');
  }
  // JSON numbers/booleans (e.g. the numkeys of EVALSHA) go to Redis in their string form.
  return raw.map((a: unknown) => (typeof a === 'string' ? a : typeof a === 'object' && a !== null ? JSON.stringify(a) : String(a))) as Command;
}

function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof RedisReplyError) return false;
  return err.name === 'MaxRetriesPerRequestError' || /Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|Stream isn't writeable/i.test(err.message);
}

function isReplyError(err: unknown): boolean {
  return err instanceof RedisReplyError || (err instanceof Error && err.name === 'ReplyError');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RedisReplyError('ERR request body is not valid JSON');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
