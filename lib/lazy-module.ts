/**
 * A module loaded on first use, then held: `const x = lazyModule(() => import('./x.js'))` and `await x()` per request.
 * An `import()` on every request resolves the specifier each time (through the loader's hooks where there are any:
 * tsx's run on their own thread, one message there and back per call), which the burst bench showed as serial
 * per-request work; this resolves once. A load that failed is tried again next time.
 */
export function lazyModule<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    }));
}
