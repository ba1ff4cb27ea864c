import { createHash } from 'node:crypto';
import { redis } from '../redis.js';
import type { Work } from '../work.js';
import { common } from './lua-common.js';

/**
 * The Lua scripts of lib/stock (key layout in keys.ts; the functions they share in ./lua-common.ts). Each runs
 * atomically in Redis; keys are built inside the scripts (single-node Redis / Upstash).
 */
export type HoldLine = { sku: string; quantity: number };

/** A hold's lines as script arguments: repeated SKUs merged, in a stable order: [sku, qty, sku, qty, …]. */
export function flatten(lines: HoldLine[]): string[] {
  const merged = new Map<string, number>();
  for (const l of lines) merged.set(l.sku, (merged.get(l.sku) ?? 0) + l.quantity);
  return [...merged].sort(([a], [b]) => a.localeCompare(b)).flatMap(([sku, q]) => [sku, String(q)]);
}

// Timestamps (ms) stay strings inside the scripts: no Lua arithmetic on them, so hosts with
// 32-bit Lua integers (ioredis-mock's fengari) behave like Redis.
export const KEEP_MS = 30 * 24 * 3600 * 1000;

// ARGV: orderId, nowMs, expMs, keepUntilMs, sku1, qty1, sku2, qty2, ...
const reserve = `${common}
local oid, now, exp, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hk = 'hold:' .. oid
local state = redis.call('HGET', hk, 'state')
if state then return {'exists', state, redis.call('HGET', hk, 'exp') or '', same_lines(hk, ARGV, 5)} end
local short = take(now, ARGV, 5)
if short then return short end
write_hold(hk, oid, exp, keep, ARGV, 5, #ARGV)
return {'held', exp}`;

// ARGV: orderId, nowMs, expMs, keepUntilMs, seenExpMs, sku1, qty1, ... → holds again an order whose
// hold lapsed or was released before its order was recorded (a late retry of the same event). A hold
// that is still the lapsing one seen (exp = seenExpMs) is released first; one another attempt renewed
// meanwhile is kept and its expiry returned. Answers like reserve.
const rehold = `${common}
local oid, now, exp, keep, seen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local hk = 'hold:' .. oid
local state = redis.call('HGET', hk, 'state')
if state == 'committed' then return {'exists', state, redis.call('HGET', hk, 'exp') or ''} end
if state == 'held' then
  local current = redis.call('HGET', hk, 'exp') or ''
  if current ~= seen then return {'held', current} end
  release_hold(oid)
end
local short = take(now, ARGV, 6)
if short then return short end
write_hold(hk, oid, exp, keep, ARGV, 6, #ARGV)
return {'held', exp}`;

// ARGV: orderId → released | missing | committed (nothing returned to stock twice)
const release = `${common}
return release_hold(ARGV[1])`;

// ARGV: nowMs, n, then order ids: the first n are released (release_hold: units back at most once) and taken off
// the expiry index; the rest are only taken off it, unless their expiry moved past nowMs meanwhile (extended: still
// live). One script for a whole cleanup batch: its round trips do not grow with the batch. → each of the first n's
// 1 if this call returned its units, else 0 (released, committed or missing already), in order.
const releaseMany = `${common}
local now, n = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local oid = ARGV[i]
  if i <= n + 2 then
    -- 1 when this call returned the units (the hold was held), else 0 (released, committed or missing already).
    local held = redis.call('HGET', 'hold:' .. oid, 'state') == 'held'
    release_hold(oid)
    if held then out[#out + 1] = 1 else out[#out + 1] = 0 end
    redis.call('ZREM', 'holds:exp', oid)
  else
    local score = redis.call('ZSCORE', 'holds:exp', oid)
    if score and tonumber(score) <= tonumber(now) then redis.call('ZREM', 'holds:exp', oid) end
  end
end
return {unpack(out)}`;

// ARGV: orderId, nowMs, keepMs, sku1, qty1, ... (the order's lines, to hold again if the hold lapsed)
const commit = `${common}
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
write_lines(hk, ARGV, 4, #ARGV)
redis.call('HSET', hk, 'state', 'committed')
redis.call('PEXPIRE', hk, keep)
redis.call('ZREM', 'holds:exp', oid)
return {'reheld'}`;

// ARGV: sku, onHand, nowMs → sets available = onHand − active holds of the sku; returns it
const setStock = `${common}
return set_available(ARGV[1], tonumber(ARGV[2]), ARGV[3])`;

// ARGV: nowMs, sku1, onHand1, sku2, onHand2, ... → setStock for each sku; returns the units each has in active holds
// (what set_available subtracted), in order
const setStocks = `${common}
local out = {}
for i = 2, #ARGV, 2 do out[#out + 1] = set_available_held(ARGV[i], tonumber(ARGV[i + 1]), ARGV[1]) end
-- {unpack(t)}: see take(); a batch stays below Lua's unpack limit (8 000 values in Redis).
return {unpack(out)}`;

// ARGV: nowMs, sku1, sku2, ... → the units each sku has in active holds
const held = `${common}
local out = {}
for i = 2, #ARGV do out[#out + 1] = held_units(ARGV[i], ARGV[1]) end
return {unpack(out)}`;

// ARGV: orderId, expMs, keepUntilMs, sku1, qty1, ... → recreates a hold lost with Redis (no stock
// change: setStock afterwards subtracts it). Leaves an existing hold untouched.
const restore = `${common}
local oid, exp, keep = ARGV[1], ARGV[2], ARGV[3]
local hk = 'hold:' .. oid
if redis.call('EXISTS', hk) == 1 then return 0 end
write_hold(hk, oid, exp, keep, ARGV, 4, #ARGV)
return 1`;

// A missing stock:<sku> is "unknown" (Redis lost its data), never "sold out". Given Postgres's
// units on hand and the pending orders whose hold is still live there, this recreates the lost
// holds (taking their units from counters that already exist again, or skipping a hold that no
// longer fits) and sets each still-missing counter to on hand − active holds. Counters present
// are left alone, so concurrent rebuilds and holds stay consistent.
// ARGV: nowMs, nSkus, sku1, onHand1, ..., then per order: orderId, expMs, keepUntilMs, nLines, sku, qty, ...
const rebuild = `${common}
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
      if not missing[sku] and redis.call('EXISTS', counter) == 1 then
        local q = tonumber(ARGV[i + 1])
        local after = redis.call('DECRBY', counter, q)
        moved(after + q, after)
      end
    end
    write_hold(hk, oid, exp, keep, ARGV, first, pos - 1)
  end
end
for _, sku in ipairs(skus) do set_available(sku, onhand[sku], now) end
return #skus`;

// ARGV: orderId, nowMs, newExpMs, keepUntilMs → extends a live hold ONCE (docs/second-chances.md): its expiry
// everywhere it is indexed (hash, per-SKU and global expiry sets). {'extended', exp} | {'already', exp} (extended
// before: its expiry) | {'lapsed', exp} | {state} (released, committed) | {'missing'}. Timestamps compared as
// strings of digits (no Lua arithmetic on them, see KEEP_MS).
const extend = `
local oid, now, exp, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local hk = 'hold:' .. oid
local state = redis.call('HGET', hk, 'state')
if not state then return {'missing'} end
if state ~= 'held' then return {state} end
local cur = redis.call('HGET', hk, 'exp') or ''
if redis.call('HGET', hk, 'extended') then return {'already', cur} end
if #cur < #now or (#cur == #now and cur <= now) then return {'lapsed', cur} end
local fields = redis.call('HGETALL', hk)
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 4) == 'sku:' then redis.call('ZADD', 'holds:sku:' .. string.sub(fields[i], 5), exp, oid) end
end
redis.call('HSET', hk, 'exp', exp, 'extended', '1')
redis.call('PEXPIREAT', hk, keep)
redis.call('ZADD', 'holds:exp', exp, oid)
return {'extended', exp}`;

// KEYS[1]: a lock key; ARGV[1]: its owner's token → deletes it only if that owner still holds it.
const unlock = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const LUA = { reserve, rehold, release, releaseMany, commit, setStock, setStocks, held, restore, rebuild, unlock, extend };
type Script = ReturnType<ReturnType<typeof redis>['createScript']>;
const loaded = new WeakMap<object, Map<keyof typeof LUA, Script>>();

const sha1s = new Map<keyof typeof LUA, string>();
const sha1Of = (name: keyof typeof LUA) => sha1s.get(name) ?? (sha1s.set(name, createHash('sha1').update(LUA[name]).digest('hex')), sha1s.get(name)!);

/**
 * runScript, with the Work's pending Redis writes in the same pipeline (one round trip). A script Redis
 * has not loaded yet (NOSCRIPT) runs again alone, which loads it.
 */
export async function runScriptWith(work: Work | undefined, name: keyof typeof LUA, args: string[], keys: string[] = []): Promise<unknown> {
  if (!work?.redis.hasWaiting) return runScript(name, args, keys);
  try {
    return (await work.redis.pipeline((p) => p.evalsha(sha1Of(name), keys, args)))[0];
  } catch (error) {
    if (!/NOSCRIPT/i.test(String((error as Error).message))) throw error;
    return runScript(name, args, keys);
  }
}

/** Runs one of the scripts (EVALSHA, loading it on first use per client). */
export function runScript(name: keyof typeof LUA, args: string[], keys: string[] = []): Promise<unknown> {
  const client = redis();
  let scripts = loaded.get(client);
  if (!scripts) loaded.set(client, (scripts = new Map()));
  let script = scripts.get(name);
  if (!script) scripts.set(name, (script = client.createScript(LUA[name])));
  return script.exec(keys, args);
}
