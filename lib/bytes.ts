/**
 * A stream's bytes up to a limit: `declared` (a Content-Length, when known) over the limit refuses before reading;
 * otherwise the running count refuses as soon as it passes. `tooLarge` builds the caller's own error (thrown after
 * the stream is cancelled). The one reader of capped bodies (the HTTP edge's requests, the inbox's media downloads).
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number, declared: number | null, tooLarge: () => Error): Promise<Uint8Array> {
  if (declared !== null && declared > maxBytes) {
    await body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
