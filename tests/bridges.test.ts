/**
 * Proves the UNMODIFIED production clients (`@neondatabase/serverless` over HTTP and
 * `@upstash/redis` over REST) work through the local bridges in dev/bridges: fully against a real
 * Postgres and redis-server started here, and a smaller pass against PGlite + ioredis-mock.
 * Also checks the bridges' stats counters, which benchmarks rely on.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { neon, neonConfig, NeonDbError } from '@neondatabase/serverless';
import { Redis as UpstashRedis } from '@upstash/redis';
import { startNeonHttpBridge, type NeonHttpBridge, type SqlBackend } from '../dev/bridges/neon-http.js';
import { pgBackend } from '../dev/bridges/pg-backend.js';
import { pgliteBackend } from '../dev/bridges/pglite-backend.js';
import { startUpstashBridge, type UpstashBridge } from '../dev/bridges/upstash-rest.js';
import { startPostgres, type LocalPostgres } from '../dev/services/postgres.js';
import { startEmbeddedRedis, startRedisServer, type RedisLike } from '../dev/services/redis.js';

process.env.UPSTASH_DISABLE_TELEMETRY = '1';

const SETUP_TIMEOUT = 60_000;
// Any host works: the bridge ignores it, but neon() insists on a well-formed URL.
const NEON_URL = 'postgresql://app:secret@db.local.test/app';
const TOKEN = 'local-test-token';

function sqlSuite(title: string, opts: { full: boolean; start: () => Promise<{ backend: SqlBackend; stop(): Promise<void> }> }) {
  describe(title, () => {
    let bridge: NeonHttpBridge;
    let stop: () => Promise<void>;
    const sql = neon(NEON_URL);

    beforeAll(async () => {
      const started = await opts.start();
      bridge = await startNeonHttpBridge({ backend: started.backend });
      stop = async () => {
        await bridge.close();
        await started.stop();
      };
      neonConfig.fetchEndpoint = bridge.url; // global: suites run one after another
      await sql`create table items (
        id uuid primary key default gen_random_uuid(),
        name text not null unique,
        qty int not null,
        meta jsonb,
        created_at timestamptz not null default now(),
        note text
      )`;
    }, SETUP_TIMEOUT);

    afterAll(async () => {
      await stop?.();
    }, SETUP_TIMEOUT);

    it('runs a tagged-template query with text, int, jsonb, timestamptz, null and uuid', async () => {
      const at = new Date('2024-05-06T07:08:09.123Z');
      const rows = await sql`
        insert into items (name, qty, meta, created_at, note)
        values (${'widget'}, ${3}, ${{ color: 'red', tags: [1, 2], nested: { ok: true } }}, ${at}, ${null})
        returning id, name, qty, meta, created_at, note`;
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(row.name).toBe('widget');
      expect(row.qty).toBe(3);
      expect(row.meta).toEqual({ color: 'red', tags: [1, 2], nested: { ok: true } });
      expect(row.created_at).toBeInstanceOf(Date);
      expect((row.created_at as Date).toISOString()).toBe(at.toISOString());
      expect(row.note).toBeNull();

      const [calc] = await sql`select ${41}::int + 1 as n, ${'a'} || ${'b'} as s, ${[1, 2, 3]}::int[] as arr, 'x'::text is null as f`;
      expect(calc).toEqual({ n: 42, s: 'ab', arr: [1, 2, 3], f: false });
      const [byId] = await sql.query('select name from items where id = $1', [row.id]);
      expect(byId).toEqual({ name: 'widget' });
    });

    it('commits a transaction() batch', async () => {
      const [inserted, counted] = await sql.transaction([
        sql`insert into items (name, qty) values (${'gadget'}, ${1}) returning name`,
        sql`select count(*)::int as n from items where name in ('widget', 'gadget')`,
      ]);
      expect(inserted).toEqual([{ name: 'gadget' }]);
      expect(counted).toEqual([{ n: 2 }]);
    });

    it('rolls a transaction() back on the first error, with the Postgres code', async () => {
      const err = await sql
        .transaction([sql`insert into items (name, qty) values (${'doomed'}, ${1})`, sql`insert into items (name, qty) values (${'widget'}, ${1})`])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NeonDbError);
      expect((err as NeonDbError).code).toBe('23505');
      expect(await sql`select name from items where name = ${'doomed'}`).toEqual([]);
    });

    it('surfaces a unique violation as NeonDbError code 23505', async () => {
      const err = await sql`insert into items (name, qty) values (${'widget'}, ${9})`.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NeonDbError);
      const e = err as NeonDbError;
      expect(e.code).toBe('23505');
      expect(e.constraint).toBe('items_name_key');
      expect(e.detail).toContain('(name)=(widget)');
      expect(e.message).toMatch(/duplicate key value violates unique constraint/);
    });

    it('honours the batch isolation / read-only headers', async () => {
      const [rows] = await sql.transaction(
        (tx) => [tx`select current_setting('transaction_isolation') as iso, current_setting('transaction_read_only') as ro`],
        { isolationLevel: 'Serializable', readOnly: true },
      );
      expect(rows).toEqual([{ iso: 'serializable', ro: 'on' }]);
      const err = await sql
        .transaction([sql`insert into items (name, qty) values (${'ro'}, ${1})`], { readOnly: true })
        .catch((e: unknown) => e);
      expect((err as NeonDbError).code).toBe('25006'); // read_only_sql_transaction
    });

    it('counts HTTP round trips and statements', async () => {
      bridge.resetStats();
      await sql`select 1`;
      expect(bridge.stats).toEqual({ requests: 1, queries: 1 });
      await sql.transaction([sql`select 1`, sql`select 2`, sql`select 3`]);
      expect(bridge.stats).toEqual({ requests: 2, queries: 4 });
      await sql`select nope`.catch(() => {});
      expect(bridge.stats).toEqual({ requests: 3, queries: 5 });
    });

    if (opts.full) {
      it('serves concurrent queries and full results', async () => {
        const all = await Promise.all(Array.from({ length: 20 }, (_, i) => sql`select ${i}::int as i, pg_sleep(0.01)`));
        expect(all.map((r) => r[0]!.i)).toEqual(Array.from({ length: 20 }, (_, i) => i));
        const full = await sql.query('update items set qty = qty + 1 where name = $1', ['widget'], { fullResults: true });
        expect(full.command).toBe('UPDATE');
        expect(full.rowCount).toBe(1);
      });
    }
  });
}

function redisSuite(title: string, opts: { full: boolean; start: () => Promise<{ redis: RedisLike; stop(): Promise<void> }> }) {
  describe(title, () => {
    let bridge: UpstashBridge;
    let direct: RedisLike;
    let redis: UpstashRedis;
    let stop: () => Promise<void>;

    beforeAll(async () => {
      const started = await opts.start();
      direct = started.redis;
      bridge = await startUpstashBridge({ redis: started.redis, token: TOKEN });
      redis = new UpstashRedis({ url: bridge.url, token: TOKEN });
      stop = async () => {
        await bridge.close();
        await started.stop();
      };
    }, SETUP_TIMEOUT);

    afterAll(async () => {
      await stop?.();
    }, SETUP_TIMEOUT);

    it('get / set / incr, JSON values and unicode round-trip', async () => {
      expect(await redis.set('greeting', 'héllo wörld ✓ 😀')).toBe('OK');
      expect(await redis.get('greeting')).toBe('héllo wörld ✓ 😀');
      await redis.set('cart', { sku: 'A1', qty: 2 });
      expect(await redis.get('cart')).toEqual({ sku: 'A1', qty: 2 });
      expect(await redis.incr('counter')).toBe(1);
      expect(await redis.incrby('counter', 10)).toBe(11);
      expect(await redis.get('missing')).toBeNull();
      expect(await redis.set('nx', 'a', { nx: true, ex: 60 })).toBe('OK');
      expect(await redis.set('nx', 'b', { nx: true, ex: 60 })).toBeNull();
      expect(await redis.ttl('nx')).toBeGreaterThan(0);
    });

    it('runs an explicit pipeline', async () => {
      const p = redis.pipeline();
      p.set('p:1', 'x');
      p.incr('p:2');
      p.get('p:1');
      p.del('p:1');
      expect(await p.exec()).toEqual(['OK', 1, 'x', 1]);
    });

    it('runs a multi-exec transaction', async () => {
      const tx = redis.multi();
      tx.set('m:1', 5);
      tx.incrby('m:1', 10);
      tx.get('m:1');
      expect(await tx.exec()).toEqual(['OK', 15, 15]);
    });

    it('createScript().exec falls back from EVALSHA (NOSCRIPT) to EVAL, and works twice', async () => {
      const script = redis.createScript<number>("return redis.call('INCRBY', KEYS[1], ARGV[1])");
      bridge.resetStats();
      expect(await script.exec(['script:n'], ['5'])).toBe(5);
      expect(bridge.stats).toEqual({ requests: 2, commands: 2 }); // EVALSHA → NOSCRIPT, then EVAL
      bridge.resetStats();
      expect(await script.exec(['script:n'], ['7'])).toBe(12);
      expect(bridge.stats).toEqual({ requests: 1, commands: 1 }); // EVAL cached the script: EVALSHA hits

      const multi = redis.createScript<string[]>('return {KEYS[1], ARGV[1], ARGV[2]}');
      expect(await multi.exec(['k'], ['a', 'ß'])).toEqual(['k', 'a', 'ß']);
    });

    it('hash and sorted-set commands', async () => {
      expect(await redis.hset('order:1', { status: 'held', qty: 3 })).toBe(2);
      expect(await redis.hget('order:1', 'status')).toBe('held');
      expect(await redis.hincrby('order:1', 'qty', 2)).toBe(5);
      expect(await redis.hgetall('order:1')).toEqual({ status: 'held', qty: 5 });
      expect(await redis.zadd('stock', { score: 3, member: 'b' }, { score: 1, member: 'a' })).toBe(2);
      expect(await redis.zincrby('stock', 5, 'a')).toBe(6);
      expect(await redis.zrange('stock', 0, -1, { withScores: true })).toEqual(['b', 3, 'a', 6]);
      expect(await redis.zscore('stock', 'b')).toBe(3);
      expect(await redis.zcard('stock')).toBe(2);
    });

    it('rejects a wrong token with 401 Unauthorized', async () => {
      const bad = new UpstashRedis({ url: bridge.url, token: 'wrong', retry: false });
      await expect(bad.get('greeting')).rejects.toThrow(/Unauthorized/);
    });

    it('base64-encodes binary replies exactly and echoes upstash-sync-token', async () => {
      await direct.set('bin', Buffer.from([0xff, 0x00, 0x80, 0x41]));
      const res = await fetch(bridge.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'upstash-encoding': 'base64', 'upstash-sync-token': 'sync-42' },
        body: JSON.stringify(['get', 'bin']),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('upstash-sync-token')).toBe('sync-42');
      expect(await res.json()).toEqual({ result: Buffer.from([0xff, 0x00, 0x80, 0x41]).toString('base64') });
    });

    it('counts HTTP round trips and commands (auto-pipelining batches concurrent calls)', async () => {
      bridge.resetStats();
      const results = await Promise.all([redis.incr('batched'), redis.incr('batched'), redis.incr('batched')]);
      expect(results.sort()).toEqual([1, 2, 3]);
      expect(bridge.stats).toEqual({ requests: 1, commands: 3 });
      await redis.hgetall('order:1'); // sent on its own to `/`
      expect(bridge.stats).toEqual({ requests: 2, commands: 4 });
    });

    if (opts.full) {
      it('passes Redis errors through (single command, pipeline, multi-exec) and has cjson in Lua', async () => {
        await redis.set('text', 'abc');
        await expect(redis.hget('text', 'f')).rejects.toThrow(/WRONGTYPE/);
        const p = redis.pipeline();
        p.incr('text');
        p.get('text');
        await expect(p.exec()).rejects.toThrow(/not an integer/);
        const tx = redis.multi();
        tx.set('m:err', 'abc');
        tx.incr('m:err');
        await expect(tx.exec()).rejects.toThrow(/not an integer/);
        expect(await redis.get('m:err')).toBe('abc'); // MULTI ran: commands after a runtime error still apply
        expect(await redis.eval('return cjson.encode({ok = true})', [], [])).toEqual({ ok: true });
      });
    }
  });
}

sqlSuite('neon() through the HTTP bridge → real Postgres', {
  full: true,
  async start() {
    const pgServer: LocalPostgres = await startPostgres();
    const backend = pgBackend(pgServer.connectionString);
    return {
      backend,
      async stop() {
        await backend.close();
        await pgServer.stop();
      },
    };
  },
});

sqlSuite('neon() through the HTTP bridge → PGlite', {
  full: false,
  async start() {
    const backend = pgliteBackend();
    return { backend, stop: () => backend.close() };
  },
});

redisSuite('@upstash/redis through the REST bridge → real redis-server', {
  full: true,
  async start() {
    const server = await startRedisServer();
    return { redis: server.client, stop: server.stop };
  },
});

redisSuite('@upstash/redis through the REST bridge → ioredis-mock', {
  full: false,
  async start() {
    const embedded = startEmbeddedRedis();
    return { redis: embedded.client, stop: embedded.stop };
  },
});
