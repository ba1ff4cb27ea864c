/**
 * The Redis side of stock. Postgres `variants.stock` is units on hand; Redis keeps
 *   stock:<sku>        available-to-sell = on hand − active holds
 *   hold:<orderId>     hash: state (held | released | committed), exp, sku:<sku> → qty
 *   holds:sku:<sku>    zset orderId by expiry (lets a script purge that SKU's lapsed holds)
 *   holds:exp          zset orderId by expiry (lets cleanup find lapsed holds in O(expired))
 *   lock:<name>        short owner-token locks (withLock)
 *   counters:flips     bumped whenever an available counter crosses zero (in stock <-> sold out), inside the scripts
 *   counters:flips:pushed  the value the last catalog push covered (availability.ts)
 * Only lib/stock/ builds these keys (here and inside its Lua scripts, scripts.ts);
 * tests/architecture-stock.test.ts keeps it so.
 */
export const stockKey = (sku: string) => `stock:${sku}`;
export const holdKey = (orderId: string) => `hold:${orderId}`;
export const EXPIRY_INDEX = 'holds:exp';
export const lockKey = (name: string) => `lock:${name}`;
export const FLIPS = 'counters:flips';
export const FLIPS_PUSHED = 'counters:flips:pushed';
