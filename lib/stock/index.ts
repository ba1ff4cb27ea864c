/**
 * lib/stock: the only code that knows the Redis stock layout (keys.ts) and its Lua scripts
 * (scripts.ts). It owns the invariant: no oversell, and a counter Redis lost is rebuilt from
 * Postgres, never read as "sold out". Orders, payments, cleanup, the admin API, the catalog and
 * the conversation use these functions, never Redis keys of their own.
 */
export { availableStock, availableStockIfKnown, heldUnits, setAvailableStock, syncAvailableStock } from './counters.js';
export {
  commitHold,
  extendHold,
  holdStatus,
  forgetLapsedHold,
  holdState,
  lapsedHolds,
  notInExpiryIndex,
  readHold,
  releaseHold,
  releaseHolds,
  reholdStock,
  reserveStock,
  type CommitResult,
  type ExtendResult,
  type HoldLine,
  type HoldView,
  type ReserveResult,
  type Shortage,
} from './holds.js';
export { withLock } from './lock.js';
export { availabilityVersion, lapsedHoldsAndFlips, markAvailabilityPushed } from './availability.js';
export { rebuildRedisStockFrom, stockDriftFrom, type RebuildRows, type StockDrift } from './resync.js';
