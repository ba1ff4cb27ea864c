/**
 * The answer to Meta and Stripe must not wait for a slow Stripe or Graph: with the stand-ins
 * answering after `stripeMs` / `graphMs` (and the stack's network delay on every connection), a
 * quantity-button reply is acknowledged fast and its payment link still arrives; a paid event is
 * acknowledged fast and its confirmation and invite still arrive. Requests go one after the other
 * (each waits for the previous answer, not for its effects); effects are awaited at the end.
 */
import { newPhone, percentile, type ShopDriver } from './driver.js';
import { pool } from './measure.js';
import { SKUS } from './flows.js';

export type FastAckRow = { endpoint: string; slow: string; n: number; ackP50: number; ackP99: number; ackMax: number; effectsArrived: number; target: string; met: boolean };

async function acks(d: ShopDriver, reqs: [string, RequestInit][]): Promise<{ ackMs: number[]; statuses: number[] }> {
  const ackMs: number[] = [];
  const statuses: number[] = [];
  const backgrounds: Promise<void>[] = [];
  for (const req of reqs) {
    const t = performance.now();
    const { response, background } = await d.call(...req);
    ackMs.push(performance.now() - t);
    statuses.push(response.status);
    backgrounds.push(background);
  }
  await Promise.all(backgrounds);
  return { ackMs, statuses };
}

const row = (endpoint: string, slow: string, ackMs: number[], arrived: number): FastAckRow => {
  const p50 = Math.round(percentile(ackMs, 50));
  const p99 = Math.round(percentile(ackMs, 99));
  return { endpoint, slow, n: ackMs.length, ackP50: p50, ackP99: p99, ackMax: Math.round(Math.max(...ackMs)), effectsArrived: arrived, target: 'p50 ≤ 150, p99 ≤ 400', met: p50 <= 150 && p99 <= 400 && arrived === ackMs.length };
};

export async function fastAck(d: ShopDriver, n = 40, stripeMs = 400, graphMs = 300): Promise<FastAckRow[]> {
  const { stripe, graph } = d.stack;
  const slow = `Stripe +${stripeMs} ms, Graph +${graphMs} ms`;
  const out: FastAckRow[] = [];
  try {
    // Paid events need orders first (made with Stripe and Graph already slow: not timed).
    stripe!.setResponseDelay(stripeMs);
    graph!.setResponseDelay(graphMs);
    const orders = await pool(Array.from({ length: n }), 16, () => d.placeOrder(SKUS[1]));
    const payloads = await pool(orders, 16, (o) => d.paySession(o.sessionId));

    // Webhook: a quantity button → hold + Checkout Session + payment link, all after the answer.
    const buyers = Array.from({ length: n }, () => newPhone('4918'));
    const w = await acks(d, buyers.map((from) => d.inbound([{ from, interactive: { type: 'button_reply', id: `qty:1:${SKUS[0]}`, title: '1' } }])));
    if (w.statuses.some((s) => s !== 200)) throw new Error(`webhook answered ${w.statuses.filter((s) => s !== 200).join(', ')}`);
    const linked = buyers.filter((b) => graph!.messages({ to: b, status: 'accepted' }).some((m) => (m.body as { interactive?: { type?: string } }).interactive?.type === 'cta_url')).length;
    out.push(row('webhook (quantity button → payment link)', slow, w.ackMs, linked));

    // payment-callback: checkout.session.completed → confirmation + invite link after the answer.
    const before = new Map(orders.map((o) => [o.from, graph!.messages({ to: o.from, status: 'accepted' }).length]));
    const p = await acks(d, payloads.map((payload) => d.stripeEvent(payload)));
    if (p.statuses.some((s) => s !== 200)) throw new Error(`payment-callback answered ${p.statuses.filter((s) => s !== 200).join(', ')}`);
    const confirmed = orders.filter((o) => graph!.messages({ to: o.from, status: 'accepted' }).length >= before.get(o.from)! + 2).length;
    out.push(row('payment-callback (paid → confirmation + invite)', slow, p.ackMs, confirmed));
  } finally {
    stripe!.setResponseDelay(0);
    graph!.setResponseDelay(0);
  }
  return out;
}
