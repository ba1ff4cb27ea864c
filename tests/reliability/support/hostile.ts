/**
 * Hostile input for the fuzz and security files (fast-check arbitraries): wrong types, huge strings,
 * deep nesting, unicode, NUL and lone surrogates, numbers as strings, negative/zero/huge quantities,
 * SQL and Lua metacharacters, invalid JSON, and real Meta/Stripe/API shapes with mutated fields.
 */
import fc from 'fast-check';

export const FULL = process.env.RELIABILITY_SCALE === 'full';
/** The fixed seed every property runs with (RELIABILITY_SEED to try another). */
export const SEED = Number(process.env.RELIABILITY_SEED ?? 20261129);

/** SQL and Lua metacharacters: fed through every field, they must be stored or refused as plain data. */
export const SQL_AND_LUA = [
  "'; DROP TABLE orders; --",
  "' OR '1'='1",
  '"; DELETE FROM customers; --',
  '$1',
  '$$ || pg_sleep(5) || $$',
  "\\'; SELECT pg_sleep(5); --",
  "E'\\x00'",
  ']]..redis.call("FLUSHALL")..[[',
  "') redis.call('FLUSHALL') --",
  'KEYS[1]',
  'ARGV[1]',
  '*',
  '\r\nFLUSHALL\r\n',
  '%s%s%s%n',
];

export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud83d',
  'x\udc00y',
  '\ud83d\ude00',
  '\u202etxt.exe',
  '\ufeff',
  'ǅ\u0301\u0301\u0301',
  '%00',
  '%ED%A0%80',
  '%',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '{{7*7}}${7*7}',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '1e309',
  '-1',
  '0',
  '-0',
  '1.5',
  '9007199254740993',
  '00491510000000',
  '+4915100000000',
  'US.99999999999999999999',
  'https://evil.example/',
  '//evil.example',
  'javascript:alert(1)',
  ...SQL_AND_LUA,
];

const huge = (n: number, unit = 'a') => unit.repeat(n);

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 1, arbitrary: fc.constantFrom(huge(10_000), huge(70_000), huge(5_000, '\u0000'), huge(3_000, '😀'), huge(2_000, '\ud83d')) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('\u0000', '\ud800', '\udfff', "'", '"', '\\', '%', '\n', 'é', '漢'), maxLength: 30 }) },
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, -1, 1, 0.5, 1e308, -1e308, 2 ** 31, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1_000_001, 100_000_001, 5e-324),
);

/** A JSON leaf or small container of the wrong kind for wherever it lands. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 2, arbitrary: hostileNumber.map(String) },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom({}, [], [null], { $gt: '' }, { __proto__: { admin: true } }, { constructor: { prototype: {} } }) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Nested arrays/objects `depth` levels deep, as text (JSON.stringify of such a value would overflow the stack). */
export function deepJson(depth: number, kind: 'array' | 'object' = 'array', leaf = '1'): string {
  return kind === 'array' ? '['.repeat(depth) + leaf + ']'.repeat(depth) : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

type Path = (string | number)[];

/** Every path in a JSON value (containers and leaves), root excluded. */
function pathsOf(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push([...prefix, i]), pathsOf(v, [...prefix, i], out)));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push([...prefix, k]), pathsOf(v, [...prefix, k], out);
  return out;
}

type Mutation = { at: number; op: 'set' | 'delete' | 'wrap' | 'key'; value: unknown };

function applyMutation(base: unknown, m: Mutation): unknown {
  const copy = structuredClone(base) as Record<string | number, unknown>;
  const paths = pathsOf(copy);
  if (!paths.length) return m.value;
  const path = paths[m.at % paths.length]!;
  let parent: Record<string | number, unknown> = copy;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (m.op === 'set') parent[last] = m.value;
  else if (m.op === 'wrap') parent[last] = [parent[last]];
  else if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (!Array.isArray(parent)) {
    // A hostile key beside the real one.
    parent[typeof m.value === 'string' ? m.value.slice(0, 200) : String(m.value).slice(0, 200)] = parent[last];
  }
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom<Mutation['op']>('set', 'set', 'set', 'delete', 'wrap', 'key'),
  value: hostileValue,
});

/** A real shape with one to three fields replaced, removed, wrapped or given hostile siblings. */
export function mutated(base: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => ms.reduce(applyMutation, b));
}

/** Bodies over 1 MB and near Netlify's 6 MB request limit: a valid shape with one huge field. */
export function bigBodies(shape: unknown): string[] {
  const pad = (bytes: number) => JSON.stringify({ ...(shape as object), padding: 'x'.repeat(bytes) });
  return [pad(1_100_000), pad(5_900_000)];
}

/** The body text of a request: mostly mutated real shapes, then random JSON, hostile objects, invalid JSON, deep nesting. */
export function bodyText(shapes: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 10, arbitrary: mutated(shapes).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: shapes.map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: fc.dictionary(hostileString.map((s) => s.slice(0, 100)), hostileValue, { maxKeys: 6 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.tuple(shapes, fc.nat()).map(([v, n]) => { const s = JSON.stringify(v); return s.slice(0, n % Math.max(1, s.length)); }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '"x"', '1', '{', '{"a":}', '\u0000', '{"a":"\\ud83d"}', '{"a":"\\u0000"}', "{'a':1}", 'NaN', '{"__proto__":{"x":1}}') },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 50, max: 200_000 }), fc.constantFrom<'array' | 'object'>('array', 'object')).map(([d, k]) => deepJson(d, k)) },
  );
}

export const contentType: fc.Arbitrary<string | undefined> = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  undefined,
  'text/plain',
  'text/csv',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/xml',
  '\u0000',
);

/** A JSON-ish value of the given depth, for structural checks (not for JSON.stringify beyond ~1000 levels). */
export const anyQuery: fc.Arbitrary<[string, string][]> = fc.array(fc.tuple(hostileString.map((s) => s.slice(0, 300)), hostileString.map((s) => s.slice(0, 2000))), { maxLength: 4 });
