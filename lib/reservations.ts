import { db } from './db.js';
import { log } from './log.js';
import { redis } from './redis.js';

/**
 * Stock holds in Redis. Postgres `variants.stock` is units on hand; Redis keeps
 *   stock:<sku>        available-to-sell = on hand − active holds
 *   hold:<orderId>     hash: state (held | released | committed), exp, sku:<sku> → qty
 *   holds:sku:<sku>    zset orderId by expiry (lets a script purge that SKU's lapsed holds)
 *   holds:exp          zset orderId by expiry (lets cleanup find lapsed holds in O(expired))
 * Every change is one Lua script, so a multi-line hold is all-or-nothing and a counter never
 * goes below zero. Scripts purge lapsed holds of the SKUs they touch first, so correctness
 * never waits for the cleanup run. Hold hashes outlive their expiry (30 days) so late events
 * still see what happened. Keys are built inside the scripts (single-node Redis / Upstash).
 */

export type HoldLine = { sku: string; quantity: number };
export type Shortage = { sku: string; available: number };

const common = `
local function release_hold(oid)
  local hk = 'hold:' .. oid
  local state = redis.call('HGET', hk, 'state')
  if state ~= 'held' then return state or 'missing' end
  local fields = redis.call('HGETALL', hk)
  for i = 1, #fields, 2 do
    local f = fields[i]
    if string.sub(f, 1, 4) == 'sku:' then
      local sku = string.sub(f, 5)
      -- A missing counter is unknown (Redis lost it), not zero: leave it for the rebuild to count.
      if redis.call('EXISTS', 'stock:' .. sku) == 1 then redis.call('INCRBY', 'stock:' .. sku, tonumber(fields[i + 1])) end
      redis.call('ZREM', 'holds:sku:' .. sku, oid)
    end
  end
  redis.call('HSET', hk, 'state', 'released')
  return 'released'
end

local function purge_expired(sku, now)
  local lapsed = redis.call('ZRANGEBYSCORE', 'holds:sku:' .. sku, '-inf', now)
  for _, oid in ipairs(lapsed) do release_hold(oid) end
end

-- Takes qty of every (sku, qty) pair in args from position start, or nothing.
-- Returns nil on success, {'unknown', sku, ...} when a counter is missing (the caller rebuilds it
-- from Postgres and retries), else {'short', sku, available, sku, available, ...}.
local function take(now, args, start)
  local unknown = {'unknown'}
  for i = start, #args, 2 do
    if redis.call('EXISTS', 'stock:' .. args[i]) == 0 then unknown[#unknown + 1] = args[i] end
  end
  if #unknown > 1 then return {unpack(unknown)} end
  for i = start, #args, 2 do purge_expired(args[i], now) end
  local short = {'short'}
  for i = start, #args, 2 do
    local avail = tonumber(redis.call('GET', 'stock:' .. args[i]))
    if avail < tonumber(args[i + 1]) then
      short[#short + 1] = args[i]
      short[#short + 1] = avail
    end
  end
  -- {unpack(t)}: some Lua hosts (ioredis-mock) only convert constructor-built tables.
  if #short > 1 then return {unpack(short)} end
  for i = start, #args, 2 do redis.call('DECRBY', 'stock:' .. args[i], tonumber(args[i + 1])) end
  return nil
end

local function write_lines(hk, args, start)
  for i = start, #args, 2 do redis.call('HSET', hk, 'sku:' .. args[i], args[i + 1]) end
end
`;
// Timestamps (ms) stay strings inside the scripts: no Lua arithmetic on them, so hosts with
// 32-bit Lua integers (ioredis-mock's fengari) behave like Redis.
const KEEP_MS = 30 * 24 * 3600 * 1000;

// ARGV: orderId, nowMs, expMs, keepUntilMs, sku1, qty1, sku2, qty2, ...
const reserveScript = `${common}
local oid, now, exp, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hk = 'hold:' .. oid
local state = redis.call('HGET', hk, 'state')
if state then return {'exists', state} end
local short = take(now, ARGV, 5)
if short then return short end
write_lines(hk, ARGV, 5)
for i = 5, #ARGV, 2 do redis.call('ZADD', 'holds:sku:' .. ARGV[i], exp, oid) end
redis.call('HSET', hk, 'state', 'held', 'exp', exp)
redis.call('PEXPIREAT', hk, keep)
redis.call('ZADD', 'holds:exp', exp, oid)
return {'held'}`;

// ARGV: orderId → released | missing | committed (nothing returned to stock twice)
const releaseScript = `${common}
return release_hold(ARGV[1])`;

// ARGV: orderId, nowMs, keepMs, sku1, qty1, ... (the order's lines, to hold again if the hold lapsed)
const commitScript = `${common}
local oid, now, keep = ARGV[1], ARGV[2], ARGV[3]
local hk = 'hold:' .. oid
local state = redis.call('HGET', hk, 'state')
if state == 'committed' then return {'already'} end
if state == 'held' then
  local fields = redis.call('HGETALL', hk)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 4) == 'sku:' then redis.call('ZREM', 'holds:sku:' .. string.sub(fields[i], 5), oid) end
  end
  redis.call('HSET', hk, 'state', 'committed')
  redis.call('ZREM', 'holds:exp', oid)
  return {'committed'}
end
local short = take(now, ARGV, 4)
if short then return short end
write_lines(hk, ARGV, 4)
redis.call('HSET', hk, 'state', 'committed')
redis.call('PEXPIRE', hk, keep)
redis.call('ZREM', 'holds:exp', oid)
return {'reheld'}`;

// ARGV: sku, onHand, nowMs → sets available = onHand − active holds of the sku; returns it
const setStockScript = `${common}
local sku, onhand, now = ARGV[1], tonumber(ARGV[2]), ARGV[3]
purge_expired(sku, now)
local held = 0
for _, oid in ipairs(redis.call('ZRANGE', 'holds:sku:' .. sku, 0, -1)) do
  held = held + tonumber(redis.call('HGET', 'hold:' .. oid, 'sku:' .. sku) or '0')
end
local avail = onhand - held
if avail < 0 then avail = 0 end
redis.call('SET', 'stock:' .. sku, avail)
return avail`;

// ARGV: orderId, expMs, keepUntilMs, sku1, qty1, ... → recreates a hold lost with Redis (no stock
// change: setStock afterwards subtracts it). Leaves an existing hold untouched.
const restoreScript = `${common}
local oid, exp, keep = ARGV[1], ARGV[2], ARGV[3]
local hk = 'hold:' .. oid
if redis.call('EXISTS', hk) == 1 then return 0 end
write_lines(hk, ARGV, 4)
for i = 4, #ARGV, 2 do redis.call('ZADD', 'holds:sku:' .. ARGV[i], exp, oid) end
redis.call('HSET', hk, 'state', 'held', 'exp', exp)
redis.call('PEXPIREAT', hk, keep)
redis.call('ZADD', 'holds:exp', exp, oid)
return 1`;

// A missing stock:<sku> is "unknown" (Redis lost its data), never "sold out". Given Postgres's
// units on hand and the pending orders whose hold is still live there, this recreates the lost
// holds (taking their units from counters that already exist again, or skipping a hold that no
// longer fits) and sets each still-missing counter to on hand − active holds. Counters present
// are left alone, so concurrent rebuilds and holds stay consistent.
// ARGV: nowMs, nSkus, sku1, onHand1, ..., then per order: orderId, expMs, keepUntilMs, nLines, sku, qty, ...
const rebuildScript = `${common}
local now, n = ARGV[1], tonumber(ARGV[2])
local missing, onhand, skus = {}, {}, {}
local pos = 3
for i = 1, n do
  local sku = ARGV[pos]
  if redis.call('EXISTS', 'stock:' .. sku) == 0 then
    missing[sku] = true
    onhand[sku] = tonumber(ARGV[pos + 1])
    skus[#skus + 1] = sku
  end
  pos = pos + 2
end
if #skus == 0 then return 0 end
while pos <= #ARGV do
  local oid, exp, keep, m = ARGV[pos], ARGV[pos + 1], ARGV[pos + 2], tonumber(ARGV[pos + 3])
  local first = pos + 4
  pos = first + 2 * m
  local hk = 'hold:' .. oid
  local relevant, fits = false, true
  for i = first, pos - 1, 2 do
    local sku, counter = ARGV[i], 'stock:' .. ARGV[i]
    if missing[sku] then relevant = true
    elseif redis.call('EXISTS', counter) == 1 and tonumber(redis.call('GET', counter)) < tonumber(ARGV[i + 1]) then fits = false end
  end
  if relevant and fits and redis.call('EXISTS', hk) == 0 then
    for i = first, pos - 1, 2 do
      local sku, counter = ARGV[i], 'stock:' .. ARGV[i]
      if not missing[sku] and redis.call('EXISTS', counter) == 1 then redis.call('DECRBY', counter, tonumber(ARGV[i + 1])) end
      redis.call('HSET', hk, 'sku:' .. sku, ARGV[i + 1])
      redis.call('ZADD', 'holds:sku:' .. sku, exp, oid)
    end
    redis.call('HSET', hk, 'state', 'held', 'exp', exp)
    redis.call('PEXPIREAT', hk, keep)
    redis.call('ZADD', 'holds:exp', exp, oid)
  end
end
for _, sku in ipairs(skus) do
  purge_expired(sku, now)
  local held = 0
  for _, oid in ipairs(redis.call('ZRANGE', 'holds:sku:' .. sku, 0, -1)) do
    held = held + tonumber(redis.call('HGET', 'hold:' .. oid, 'sku:' .. sku) or '0')
  end
  local avail = onhand[sku] - held
  if avail < 0 then avail = 0 end
  redis.call('SET', 'stock:' .. sku, avail)
end
return #skus`;

type Script = ReturnType<ReturnType<typeof redis>['createScript']>;
const scripts = new WeakMap<object, Record<string, Script>>();

function script(name: 'reserve' | 'release' | 'commit' | 'setStock' | 'restore' | 'rebuild'): Script {
  const client = redis();
  let set = scripts.get(client);
  if (!set) {
    set = {
      reserve: client.createScript(reserveScript),
      release: client.createScript(releaseScript),
      commit: client.createScript(commitScript),
      setStock: client.createScript(setStockScript),
      restore: client.createScript(restoreScript),
      rebuild: client.createScript(rebuildScript),
    };
    scripts.set(client, set);
  }
  return set[name]!;
}

/** Merges repeated SKUs so each appears once, in a stable order. */
function flatten(lines: HoldLine[]): string[] {
  const merged = new Map<string, number>();
  for (const l of lines) merged.set(l.sku, (merged.get(l.sku) ?? 0) + l.quantity);
  return [...merged].sort(([a], [b]) => a.localeCompare(b)).flatMap(([sku, q]) => [sku, String(q)]);
}

function shortages(reply: unknown[]): Shortage[] {
  const out: Shortage[] = [];
  for (let i = 1; i < reply.length; i += 2) out.push({ sku: String(reply[i]), available: Number(reply[i + 1]) });
  return out;
}

export type ReserveResult = { status: 'held' } | { status: 'exists'; state: string } | { status: 'short'; shortages: Shortage[] };

/** Holds every line for the order until expiresAt, or nothing. Idempotent per order id. */
export async function reserveStock(orderId: string, lines: HoldLine[], expiresAt: Date): Promise<ReserveResult> {
  const reply = await withKnownCounters(() => script('reserve').exec([], [orderId, String(Date.now()), String(expiresAt.getTime()), String(expiresAt.getTime() + KEEP_MS), ...flatten(lines)]));
  if (reply[0] === 'held') return { status: 'held' };
  if (reply[0] === 'exists') return { status: 'exists', state: String(reply[1]) };
  return { status: 'short', shortages: shortages(reply) };
}

/** Returns a held order's units to the available counters; a no-op for released or committed holds. */
export async function releaseHold(orderId: string): Promise<'released' | 'missing' | 'committed'> {
  return (await script('release').exec([], [orderId])) as 'released' | 'missing' | 'committed';
}

export type CommitResult = { status: 'committed' | 'reheld' | 'already' } | { status: 'short'; shortages: Shortage[] };

/** Turns a paid order's hold into a sale (units leave for good). If the hold lapsed, tries to take the units again. */
export async function commitHold(orderId: string, lines: HoldLine[]): Promise<CommitResult> {
  const reply = await withKnownCounters(() => script('commit').exec([], [orderId, String(Date.now()), String(KEEP_MS), ...flatten(lines)]));
  if (reply[0] === 'short') return { status: 'short', shortages: shortages(reply) };
  return { status: reply[0] as 'committed' | 'reheld' | 'already' };
}

/** Sets a SKU's available counter from its units on hand minus its active holds. */
export async function setAvailableStock(sku: string, onHand: number): Promise<number> {
  return Number(await script('setStock').exec([], [sku, String(onHand), String(Date.now())]));
}

/** Recreates a hold that Redis lost (after a flush), without touching counters. */
export async function restoreHold(orderId: string, lines: HoldLine[], expiresAt: Date): Promise<boolean> {
  return Number(await script('restore').exec([], [orderId, String(expiresAt.getTime()), String(expiresAt.getTime() + KEEP_MS), ...flatten(lines)])) === 1;
}

/** Order ids whose hold expired by `now`, oldest first, at most `limit`. */
export async function lapsedHolds(now: Date, limit: number): Promise<string[]> {
  return (await redis().zrange('holds:exp', '-inf', now.getTime(), { byScore: true, offset: 0, count: limit })) as string[];
}

export async function forgetLapsedHold(orderId: string): Promise<void> {
  await redis().zrem('holds:exp', orderId);
}

/** Available units per SKU; a counter Redis lost is rebuilt from Postgres first (never read as 0). */
export async function availableStock(skus: string[]): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  const read = () => redis().mget<(string | number | null)[]>(...skus.map((s) => `stock:${s}`));
  let values = await read();
  const missing = skus.filter((_, i) => values[i] === null || values[i] === undefined);
  if (missing.length) {
    await rebuildStockCounters(missing);
    values = await read();
  }
  return new Map(skus.map((s, i) => [s, Number(values[i] ?? 0)]));
}

/** Runs a script that answers {'unknown', sku, ...} for missing counters: rebuilds them, then runs it again. */
async function withKnownCounters(run: () => Promise<unknown>): Promise<unknown[]> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const reply = (await run()) as unknown[];
    if (reply[0] !== 'unknown') return reply;
    await rebuildStockCounters(reply.slice(1).map(String));
  }
  throw new Error('stock counters missing after rebuilding them (is Redis losing writes?)');
}

/**
 * Rebuilds the stock counters Redis lost (it restarted empty): from Postgres, the units on hand
 * and the pending orders whose hold is still live, recreates their holds and sets each missing
 * counter to on hand − active holds, atomically and only where the counter is still absent.
 */
export async function rebuildStockCounters(skus: string[]): Promise<void> {
  const sql = db();
  const [variants = [], pending = []] = await sql.transaction(
    [
      sql`SELECT sku, stock FROM variants WHERE sku = ANY(${skus}::text[])`,
      sql`SELECT id, items, hold_expires_at FROM orders
          WHERE payment_status IN ('pending', 'awaiting_payment') AND hold_expires_at > now()
            AND EXISTS (SELECT 1 FROM jsonb_array_elements(items) i WHERE i->>'sku' = ANY(${skus}::text[]))`,
    ],
    { readOnly: true },
  );
  const onHand = new Map(variants.map((v) => [v.sku as string, Number(v.stock)]));
  const now = Date.now();
  const holds = pending.flatMap((o) => {
    const exp = new Date(o.hold_expires_at as string).getTime();
    if (exp <= now) return [];
    const lines = flatten((o.items as { sku: string; quantity: number }[]).map((i) => ({ sku: i.sku, quantity: i.quantity })));
    return [o.id as string, String(exp), String(exp + KEEP_MS), String(lines.length / 2), ...lines];
  });
  const rebuilt = Number(await script('rebuild').exec([], [String(now), String(skus.length), ...skus.flatMap((s) => [s, String(onHand.get(s) ?? 0)]), ...holds]));
  if (rebuilt) log.warn('stock.counters_rebuilt', { skus: skus.slice(0, 20), count: rebuilt });
}
