import type { z as Zod } from 'zod';
import { requirePackage } from './lazy-require.js';

/**
 * zod, loaded on first use. Netlify's bundler inlines lib/ into each function and hoists every
 * package import to the top of the bundle, so a plain `import { z } from 'zod'` anywhere in a
 * function's tree (even behind a dynamic import) loads zod at cold start (~90 ms). Through this
 * binding zod loads when a schema is first built: the webhook's handshake never loads it, and a
 * module's schemas cost nothing until a code path imports that module. Every module of lib/ and
 * netlify/ takes zod from here, so there is one zod instance (instanceof z.ZodError holds).
 */
let loaded: typeof Zod | undefined;
const load = () => (loaded ??= (requirePackage('zod') as { z: typeof Zod }).z);

/**
 * Loads zod ahead of its first use by a dynamic import, which Netlify's bundler keeps dynamic and
 * ships in the zip (lib/http/edge.ts calls it for every path that reads a validated variable);
 * without it (scripts, tests, the backend) the first use requires zod synchronously.
 */
export async function loadZod(): Promise<void> {
  loaded ??= (await import('zod')).z;
}

export const z: typeof Zod = new Proxy({} as typeof Zod, {
  get: (_target, prop) => Reflect.get(load(), prop),
  has: (_target, prop) => Reflect.has(load(), prop),
});

/** The types of zod's namespace that lib/ uses (`z.infer<…>`, `z.ZodError`, …). */
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace z {
  export type infer<T> = Zod.infer<T>;
  export type input<T> = Zod.input<T>;
  export type output<T> = Zod.output<T>;
  export type ZodType<O = unknown, I = unknown> = Zod.ZodType<O, I>;
  export type ZodError<T = unknown> = Zod.ZodError<T>;
  export type ZodIssue = Zod.core.$ZodIssue;
}
