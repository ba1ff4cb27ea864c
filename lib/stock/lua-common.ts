/**
 * The Lua functions every script of ./scripts.ts starts with (counters, holds, the catalog push's flips), kept apart
 * so each file stays short. Key layout: ./keys.ts.
 */
export const common = `
-- An available counter that crossed zero (in stock <-> sold out) bumps 'counters:flips': the catalog push is due
-- (lib/stock/availability.ts); the cleanup run reads it with its expiry index, so a run with nothing changed skips the push.
local function moved(before, after)
  if not before or (before > 0) ~= (after > 0) then redis.call('INCR', 'counters:flips') end
end

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
      if redis.call('EXISTS', 'stock:' .. sku) == 1 then
        local q = tonumber(fields[i + 1])
        local after = redis.call('INCRBY', 'stock:' .. sku, q)
        moved(after - q, after)
      end
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
  for i = start, #args, 2 do
    local q = tonumber(args[i + 1])
    local after = redis.call('DECRBY', 'stock:' .. args[i], q)
    moved(after + q, after)
  end
  return nil
end

-- '1' when the hold's lines are exactly the (sku, qty) pairs args[first..], else '0' (the same order id asked for
-- other lines: an idempotency key reused for another request).
local function same_lines(hk, args, first)
  local n = 0
  for i = first, #args, 2 do
    if redis.call('HGET', hk, 'sku:' .. args[i]) ~= args[i + 1] then return '0' end
    n = n + 1
  end
  local fields = redis.call('HGETALL', hk)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 4) == 'sku:' then n = n - 1 end
  end
  if n ~= 0 then return '0' end
  return '1'
end

local function write_lines(hk, args, first, last)
  for i = first, last, 2 do redis.call('HSET', hk, 'sku:' .. args[i], args[i + 1]) end
end

-- Records a live hold of the (sku, qty) pairs args[first..last]: its lines, its per-SKU and global
-- expiry entries, state held; the hash itself outlives the expiry until keep.
local function write_hold(hk, oid, exp, keep, args, first, last)
  write_lines(hk, args, first, last)
  for i = first, last, 2 do redis.call('ZADD', 'holds:sku:' .. args[i], exp, oid) end
  redis.call('HSET', hk, 'state', 'held', 'exp', exp)
  redis.call('PEXPIREAT', hk, keep)
  redis.call('ZADD', 'holds:exp', exp, oid)
end

-- The units of the sku in active holds (lapsed ones released first).
local function held_units(sku, now)
  purge_expired(sku, now)
  local held = 0
  for _, oid in ipairs(redis.call('ZRANGE', 'holds:sku:' .. sku, 0, -1)) do
    held = held + tonumber(redis.call('HGET', 'hold:' .. oid, 'sku:' .. sku) or '0')
  end
  return held
end

-- available = on hand − the sku's active holds (never below zero); returns the held units.
local function set_available_held(sku, onhand, now)
  local held = held_units(sku, now)
  local avail = onhand - held
  if avail < 0 then avail = 0 end
  local before = redis.call('GET', 'stock:' .. sku)
  redis.call('SET', 'stock:' .. sku, avail)
  moved(before and tonumber(before), avail)
  return held
end

-- The same; returns the available units.
local function set_available(sku, onhand, now)
  local avail = onhand - set_available_held(sku, onhand, now)
  if avail < 0 then avail = 0 end
  return avail
end
`;
