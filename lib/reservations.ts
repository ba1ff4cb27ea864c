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
      redis.call('INCRBY', 'stock:' .. sku, tonumber(fields[i + 1]))
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
-- Returns nil on success, else {'short', sku, available, sku, available, ...}.
local function take(now, args, start)
  for i = start, #args, 2 do purge_expired(args[i], now) end
  local short = {'short'}
  for i = start, #args, 2 do
    local avail = tonumber(redis.call('GET', 'stock:' .. args[i]) or '0')
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

type Script = ReturnType<ReturnType<typeof redis>['createScript']>;
const scripts = new WeakMap<object, Record<string, Script>>();

function script(name: 'reserve' | 'release' | 'commit' | 'setStock' | 'restore'): Script {
  const client = redis();
  let set = scripts.get(client);
  if (!set) {
    set = {
      reserve: client.createScript(reserveScript),
      release: client.createScript(releaseScript),
      commit: client.createScript(commitScript),
      setStock: client.createScript(setStockScript),
      restore: client.createScript(restoreScript),
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
  const reply = (await script('reserve').exec([], [orderId, String(Date.now()), String(expiresAt.getTime()), String(expiresAt.getTime() + KEEP_MS), ...flatten(lines)])) as unknown[];
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
  const reply = (await script('commit').exec([], [orderId, String(Date.now()), String(KEEP_MS), ...flatten(lines)])) as unknown[];
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

export async function availableStock(skus: string[]): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  const values = await redis().mget<(string | number | null)[]>(...skus.map((s) => `stock:${s}`));
  return new Map(skus.map((s, i) => [s, Number(values[i] ?? 0)]));
}
