/**
 * `npm run simulate -- <scenario> [--real | --embedded] [--verbose]`: the sandbox's scenarios, headless,
 * against an in-process shop (dev/stack.ts with the demo catalog). Customers write through the
 * Meta Graph stand-in (signed webhooks to the real webhook function), pay through the Stripe
 * stand-in (signed events to payment-callback), the shop is read through its admin API. Prints
 * the conversation and the orders' states; exits 0 when the scenario ended as it should, else 1.
 *
 *   happy-path     menu → list → quantity → pay → confirmation + invite link → the elder writes in
 *   out-of-stock   holds that exhaust a product; refusals that say how many are left; cancel frees them
 *   replay-storm   the same Meta message 20× and the same Stripe event 10× at once: one effect each
 *   late-payment   payments arriving after the hold lapsed: re-held when stock is left, else refunded
 *
 * Data: real Postgres + redis-server when both are installed (as the tests use), else embedded
 * PGlite (+ ioredis-mock without redis-server); --real / --embedded force one.
 */
import { spawnSync } from 'node:child_process';
import { findPostgresBin } from './services/postgres.js';
import { startLocalStack, type LocalStack } from './stack.js';
import type { RecordedMessage } from './standins/graph.js';
import { templateViews } from './sandbox/routes.js';

type Scenario = (sim: Sim) => Promise<string[]>;

const args = process.argv.slice(2);
const scenarioName = args.find((a) => !a.startsWith('--'));
const verbose = args.includes('--verbose');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WAIT_MS = 60_000;
/** Concurrent deliveries of one message in replay-storm (each is a function invocation: keep it kind to a 2-core box). */
const STORM = 12;

// ---- output ----------------------------------------------------------------------------------

const color = process.stdout.isTTY ? (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m` : () => (s: string) => s;
const dim = color(2);
const bold = color(1);
const green = color(32);
const red = color(31);
const cyan = color(36);

// ---- the simulation ----------------------------------------------------------------------------

type Customer = { name: string; waId: string };

class Sim {
  private readonly started = Date.now();
  private printed = new Set<string>();
  private watcher: NodeJS.Timeout | undefined;
  private templates: Awaited<ReturnType<typeof templateViews>> = {};
  readonly customers = new Map<string, Customer>();

  constructor(readonly stack: LocalStack) {}

  get graph() {
    return this.stack.graph!;
  }

  async init(): Promise<void> {
    this.templates = await templateViews();
    // Print what the shop sends as the Graph stand-in receives it.
    this.watcher = setInterval(() => this.flush(), 100);
  }

  stop(): void {
    clearInterval(this.watcher);
    this.flush();
  }

  private at(): string {
    return dim(`+${((Date.now() - this.started) / 1000).toFixed(1).padStart(5)}s`);
  }

  log(line: string): void {
    this.flush();
    console.log(`${this.at()}  ${line}`);
  }

  step(title: string): void {
    this.flush();
    console.log(`\n${bold(title)}`);
  }

  private flush(): void {
    for (const m of this.graph.messages()) {
      const key = m.wamid ?? `${m.at}:${m.to}:${m.type}`;
      if (this.printed.has(key)) continue;
      const who = [...this.customers.values()].find((c) => c.waId === m.to);
      if (!who) continue;
      this.printed.add(key);
      const head = `${cyan('shop')} → ${who.name}`;
      if (m.status === 'rejected') {
        const e = m.error as { message?: string; code?: number } | undefined;
        console.log(`${this.at()}  ${head}  ${red(`✗ refused by Meta: ${e?.message ?? ''} (${e?.code ?? '?'})`)}`);
        continue;
      }
      console.log(`${this.at()}  ${head}  ${this.render(m)}`);
    }
  }

  private render(m: RecordedMessage): string {
    const b = m.body as Record<string, any>;
    const indent = (s: string) => s.replace(/\n/g, '\n' + ' '.repeat(24));
    if (b.type === 'text') return indent(b.text.body);
    if (b.type === 'template') {
      const view = this.templates[b.template.name];
      const params = (type: string) => ((b.template.components ?? []).find((c: { type: string }) => c.type === type)?.parameters ?? []).map((p: { text: string }) => p.text);
      const fill = (s: string, p: string[]) => s.replace(/\{\{(\d+)\}\}/g, (_, n) => p[Number(n) - 1] ?? `{{${n}}}`);
      const text = view ? [view.header ? fill(view.header, params('header')) : '', fill(view.body, params('body'))].filter(Boolean).join(' · ') : JSON.stringify(b.template.components);
      return indent(`[template ${b.template.name}] ${text}`);
    }
    const i = b.interactive;
    if (i?.type === 'list') {
      const rows = i.action.sections.flatMap((s: { rows: { title: string; description?: string }[] }) => s.rows).map((r: { title: string; description?: string }) => `  · ${r.title}${r.description ? dim(` — ${r.description}`) : ''}`);
      return indent(`[list "${i.action.button}"] ${i.body.text}\n${rows.join('\n')}`);
    }
    if (i?.type === 'button') return indent(`${i.body.text}\n[ ${i.action.buttons.map((x: { reply: { title: string } }) => x.reply.title).join(' | ')} ]`);
    if (i?.type === 'cta_url') return indent(`${i.header?.text ? bold(i.header.text) + '\n' : ''}${i.body.text}\n[ ${i.action.parameters.display_text} → ${i.action.parameters.url} ]`);
    return JSON.stringify(b);
  }

  customer(name: string, waId: string): Customer {
    const c = { name, waId };
    this.customers.set(name, c);
    return c;
  }

  /** Accepted messages the shop sent to c. */
  sent(c: Customer): RecordedMessage[] {
    return this.graph.messages({ to: c.waId, status: 'accepted' });
  }

  async waitFor(c: Customer, what: string, match: (m: RecordedMessage) => boolean, after = 0): Promise<RecordedMessage> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const found = this.sent(c).slice(after).find(match);
      if (found) {
        this.flush();
        return found;
      }
      if (Date.now() > deadline) throw new Error(`${c.name} never got ${what}`);
      await sleep(100);
    }
  }

  /** c writes something (or taps something): through the Graph stand-in, signed, to the webhook. Like Meta, redelivers on 5xx. */
  async send(c: Customer, input: Record<string, unknown>, shown: string): Promise<string> {
    this.log(`${c.name} → ${cyan('shop')}  ${shown}`);
    for (let attempt = 1; ; attempt++) {
      const d = await this.graph.sendInbound({ from: c.waId, name: c.name, ...input } as Parameters<typeof this.graph.sendInbound>[0]);
      if (d.status === 200) return d.wamid;
      if (attempt >= 5 || (d.status > 0 && d.status < 500)) throw new Error(`webhook answered ${d.status}: ${d.body.slice(0, 200)}`);
      this.log(dim(`webhook answered ${d.status}; Meta would redeliver`));
      input = { ...input, wamid: d.wamid };
      await sleep(500 * attempt);
    }
  }

  say(c: Customer, text: string): Promise<string> {
    return this.send(c, { text }, `"${text}"`);
  }

  async tapListRow(c: Customer, list: RecordedMessage, title: string): Promise<void> {
    const rows = (list.body as any).interactive.action.sections.flatMap((s: { rows: unknown[] }) => s.rows) as { id: string; title: string; description?: string }[];
    const row = rows.find((r) => r.title === title);
    if (!row) throw new Error(`no list row "${title}"`);
    await this.send(c, { interactive: { type: 'list_reply', ...row }, context: { id: list.wamid! } }, `[taps list row] ${title}`);
  }

  async tapButton(c: Customer, message: RecordedMessage, title: string): Promise<void> {
    const button = ((message.body as any).interactive.action.buttons as { reply: { id: string; title: string } }[]).find((b) => b.reply.title === title);
    if (!button) throw new Error(`no button "${title}"`);
    await this.send(c, { interactive: { type: 'button_reply', ...button.reply }, context: { id: message.wamid! } }, `[taps button] ${title}`);
  }

  async catalogOrder(c: Customer, lines: { sku: string; quantity: number }[]): Promise<void> {
    const catalog = await this.adminGet<{ variants: { sku: string; priceMinor: number; currency: string; name: string }[] }>('/api/catalog');
    const items = lines.map((l) => {
      const v = catalog.variants.find((x) => x.sku === l.sku)!;
      return { product_retailer_id: l.sku, quantity: l.quantity, item_price: v.priceMinor / 100, currency: v.currency };
    });
    await this.send(c, { order: { catalog_id: this.stack.env.WHATSAPP_CATALOG_ID ?? 'catalog', product_items: items } }, `[sends cart] ${lines.map((l) => `${l.quantity} × ${l.sku}`).join(', ')}`);
  }

  /** The shop's own functions; retried only when the local runtime could not load one (another local stack rebuilding). */
  async call(path: string, init: RequestInit = {}): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const r = await fetch(`${this.stack.url}${path}`, init);
      if (r.status !== 500 || attempt >= 6) return r;
      if (!/Cannot find module|local server error/.test(await r.clone().text())) return r;
      await sleep(400 * attempt);
    }
  }

  async adminGet<T>(path: string): Promise<T> {
    const r = await this.call(path, { headers: { authorization: `Bearer ${this.stack.env.ADMIN_API_KEY}` } });
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    return (await r.json()) as T;
  }

  stripeControl(path: string, body: unknown = {}): Promise<{ status: number; eventId: string; body: string; session?: { id: string } }> {
    return fetch(`${this.stack.stripe!.url}/_standin/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json() as never);
  }

  /** The customer presses Pay on the checkout page (the Stripe stand-in sends checkout.session.completed). */
  async pay(c: Customer, link: RecordedMessage): Promise<string> {
    const url = (link.body as any).interactive.action.parameters.url as string;
    const sessionId = /\/checkout\/([^/?#]+)/.exec(url)![1]!;
    this.log(`${c.name} opens ${url} and presses ${bold('Pay')}`);
    let d = await this.stripeControl(`sessions/${sessionId}/complete`, { paid: true });
    for (let attempt = 1; d.status !== 200 && attempt < 5; attempt++) {
      this.log(dim(`payment-callback answered ${d.status}; Stripe retries`));
      await sleep(500 * attempt);
      d = await this.stripeControl('events', { id: d.eventId });
    }
    this.log(`${dim('Stripe')} → payment-callback  checkout.session.completed ${dim(`(${d.eventId}) answered ${d.status}: ${d.body}`)}`);
    return d.eventId;
  }

  async order(orderId: string): Promise<OrderView> {
    return this.adminGet<OrderView>(`/api/orders/${orderId}`);
  }

  async printOrder(orderId: string): Promise<OrderView> {
    const v = await this.order(orderId);
    const o = v.order;
    this.log(
      `${bold(`order ${o.reference}`)}  ${o.paymentStatus}/${o.fulfillmentStatus}  ${o.total}  ${v.items.map((i) => `${i.quantity} × ${i.name}`).join(', ')}` +
        `\n${' '.repeat(10)}hold: ${v.holds ? `${v.holds.state} ${v.holds.lines.map((l) => `${l.quantity}×${l.sku}`).join(', ')}` : 'none'}` +
        `\n${' '.repeat(10)}events: ${v.statuses.map((s) => s.type).join(' → ')}` +
        `\n${' '.repeat(10)}messages: ${v.messages.map((m) => `${m.kind}${m.template ? `(${m.template})` : ''}:${m.status}`).join(', ') || 'none'}`,
    );
    return v;
  }

  async printStock(skus?: string[]): Promise<Map<string, { stock: number; available: number | null }>> {
    const { variants } = await this.adminGet<{ variants: { sku: string; name: string; stock: number; available: number | null }[] }>('/api/catalog');
    const shown = variants.filter((v) => !skus || skus.includes(v.sku));
    this.log(`stock: ${shown.map((v) => `${v.sku} ${v.available ?? '?'}/${v.stock}`).join('  ')} ${dim('(available/on hand)')}`);
    return new Map(variants.map((v) => [v.sku, v]));
  }

  async latestOrderId(c: Customer): Promise<string> {
    const { db } = await import('../lib/db.js');
    const [row] = await db()`SELECT o.id FROM orders o JOIN customers cu ON cu.id = o.customer_id WHERE cu.wa_id = ${c.waId} ORDER BY o.created_at DESC LIMIT 1`;
    if (!row) throw new Error(`${c.name} has no order`);
    return row.id as string;
  }
}

type OrderView = {
  order: { id: string; reference: string; paymentStatus: string; fulfillmentStatus: string; total: string };
  items: { sku: string; name: string; quantity: number }[];
  statuses: { type: string }[];
  holds: { state: string; lines: { sku: string; quantity: number }[] } | null;
  messages: { kind: string; template: string | null; status: string }[];
  payments: unknown[];
};

const body = (m: RecordedMessage) => m.body as any;
const isType = (type: string) => (m: RecordedMessage) => body(m).type === 'interactive' ? body(m).interactive.type === type : body(m).type === type;
const isTemplate = (name: string) => (m: RecordedMessage) => body(m).type === 'template' && body(m).template.name === name;
/** A text, or an interactive message's body text (a sold-out answer carries "Notify me when back"). */
const textIncludes = (s: string) => (m: RecordedMessage) =>
  body(m).type === 'text' ? (body(m).text.body as string).includes(s) : body(m).type === 'interactive' && String(body(m).interactive?.body?.text ?? '').includes(s);

function check(problems: string[], ok: boolean, what: string): void {
  console.log(`  ${ok ? green('✓') : red('✗')} ${what}`);
  if (!ok) problems.push(what);
}

// ---- scenarios -------------------------------------------------------------------------------

const scenarios: Record<string, Scenario> = {
  async 'happy-path'(sim) {
    const problems: string[] = [];
    const ada = sim.customer('Ada', '4915112345678');
    const joe = sim.customer('Grandpa Joe', '4915187654321');

    sim.step('Ada asks for the menu and picks from the list');
    await sim.say(ada, 'menu');
    const list = await sim.waitFor(ada, 'the menu', isType('list'));
    await sim.tapListRow(ada, list, 'Green tea');
    const question = await sim.waitFor(ada, 'the quantity question', isType('button'));
    await sim.tapButton(ada, question, '2');
    const link = await sim.waitFor(ada, 'the payment link', isType('cta_url'));
    const orderId = await sim.latestOrderId(ada);
    await sim.printOrder(orderId);

    sim.step('Ada pays on the checkout page');
    const before = sim.sent(ada).length;
    await sim.pay(ada, link);
    await sim.waitFor(ada, 'the confirmation', isTemplate('order_confirmed'), before);
    const invite = await sim.waitFor(ada, 'the invite link', textIncludes('/w/invite/'), before);
    const view = await sim.printOrder(orderId);

    sim.step('Ada forwards the invite link; Grandpa Joe opens it and writes in');
    const inviteUrl = /(https?:\/\/\S+\/w\/invite\/[A-Za-z0-9_-]+)/.exec(body(invite).text.body)![1]!;
    const r = await sim.call(new URL(inviteUrl).pathname, { redirect: 'manual' });
    const location = r.headers.get('location') ?? '';
    sim.log(`GET ${inviteUrl} → ${r.status} ${location}`);
    const prefill = new URL(location).searchParams.get('text') ?? '';
    await sim.say(joe, prefill);
    const summary = await sim.waitFor(joe, 'the order summary', textIncludes(`Order ${view.order.reference}`));
    await sim.waitFor(ada, 'the note that Grandpa Joe joined', textIncludes('joined the chat'), before);
    const after = await sim.printOrder(orderId);

    console.log('');
    check(problems, after.order.paymentStatus === 'paid', 'the order is paid');
    check(problems, sim.sent(ada).filter(isTemplate('order_confirmed')).length === 1, 'one confirmation template');
    check(problems, sim.sent(ada).filter(textIncludes('/w/invite/')).length === 1, 'one invite link');
    check(problems, r.status === 302 && location.startsWith('https://wa.me/'), 'the invite link redirects to wa.me');
    check(problems, textIncludes(': paid.')(summary), 'Grandpa Joe gets the order summary');
    return problems;
  },

  async 'out-of-stock'(sim) {
    const problems: string[] = [];
    const [ada, ben, cleo, dan] = [sim.customer('Ada', '4915111110001'), sim.customer('Ben', '4915111110002'), sim.customer('Cleo', '4915111110003'), sim.customer('Dan', '4915111110004')];
    const start = await sim.printStock(['MUG', 'TEA-CHAI']);
    const mugs = start.get('MUG')!.available!;

    sim.step(`Ada holds ${mugs - 1} of the ${mugs} mugs`);
    await sim.say(ada, `buy mug ${mugs - 1}`);
    await sim.waitFor(ada, 'a payment link', isType('cta_url'));
    await sim.printStock(['MUG']);

    sim.step('Ben wants 3: only 1 is left, nothing is held for him');
    await sim.say(ben, 'buy mug 3');
    const refusal = await sim.waitFor(ben, 'a refusal', textIncludes("can't hold"));

    sim.step('Cleo sends a cart with the last mug and 2 chai');
    await sim.catalogOrder(cleo, [{ sku: 'MUG', quantity: 1 }, { sku: 'TEA-CHAI', quantity: 2 }]);
    await sim.waitFor(cleo, 'a payment link', isType('cta_url'));
    await sim.printStock(['MUG', 'TEA-CHAI']);

    sim.step('Dan opens the menu: the mug shows sold out');
    await sim.say(dan, 'menu');
    const list = await sim.waitFor(dan, 'the menu', isType('list'));
    await sim.tapListRow(dan, list, 'Stoneware mug');
    const soldOut = await sim.waitFor(dan, 'a sold-out answer', textIncludes('sold out'));

    sim.step('Ada cancels: her mugs go back on sale, and Ben gets his 3');
    await sim.say(ada, 'cancel');
    await sim.waitFor(ada, 'the cancellation', textIncludes('cancelled'));
    await sim.say(ben, 'buy mug 3');
    await sim.waitFor(ben, 'a payment link', isType('cta_url'));
    const end = await sim.printStock(['MUG', 'TEA-CHAI']);

    console.log('');
    check(problems, textIncludes('only 1 × Stoneware mug left')(refusal), 'Ben is told only 1 mug is left');
    check(problems, !!soldOut, 'Dan is told the mug is sold out');
    check(problems, end.get('MUG')!.available === mugs - 4, `mugs available at the end: ${mugs} − 1 (Cleo) − 3 (Ben)`);
    check(problems, end.get('MUG')!.stock === mugs, 'units on hand unchanged (holds are not sales)');
    check(problems, end.get('TEA-CHAI')!.available === start.get('TEA-CHAI')!.available! - 2, 'Cleo holds 2 chai');
    return problems;
  },

  async 'replay-storm'(sim) {
    const problems: string[] = [];
    const { db } = await import('../lib/db.js');
    const ada = sim.customer('Ada', '4915122220001');

    sim.step(`Meta delivers the same "menu" message ${STORM} times at once`);
    const wamid = `wamid.replay-storm-${Date.now()}`;
    sim.log(`Ada → ${cyan('shop')}  "menu" ${dim(`× ${STORM}, all with wamid ${wamid}`)}`);
    const deliver = () => sim.graph.sendInbound({ from: ada.waId, name: ada.name, text: 'menu', wamid });
    const answers = await Promise.all(Array.from({ length: STORM }, deliver));
    sim.log(`webhook answers: ${answers.map((a) => a.status || 'timeout').join(' ')}`);
    // Meta redelivers what was not acknowledged (a busy machine can take longer than the stand-in waits).
    for (let i = 0; i < answers.length; i++) {
      for (let attempt = 1; answers[i]!.status !== 200 && attempt <= 5; attempt++) {
        await sleep(500 * attempt);
        answers[i] = await deliver();
        sim.log(dim(`redelivered: ${answers[i]!.status || 'timeout'}`));
      }
    }
    await sim.waitFor(ada, 'the menu', isType('list'));
    await sleep(1500);
    const [inbound] = await db()`SELECT count(*)::int AS n FROM inbound_events WHERE external_id = ${wamid}`;
    const menus = sim.sent(ada).filter(isType('list')).length;

    sim.step('Ada buys; Stripe delivers checkout.session.completed, then the same event 10 more times at once');
    await sim.say(ada, 'buy green tea 1');
    const link = await sim.waitFor(ada, 'the payment link', isType('cta_url'));
    const eventId = await sim.pay(ada, link);
    const replays = await Promise.all(Array.from({ length: 10 }, () => sim.stripeControl('events', { id: eventId })));
    sim.log(`replays of ${eventId} answered: ${[...new Set(replays.map((r) => `${r.status} ${r.body}`))].join(' | ')}`);
    await sim.waitFor(ada, 'the invite link', textIncludes('/w/invite/'));
    await sleep(1500);
    const orderId = await sim.latestOrderId(ada);
    const view = await sim.printOrder(orderId);
    const [stripeRows] = await db()`SELECT count(*)::int AS n FROM inbound_events WHERE source = 'stripe' AND external_id = ${eventId}`;

    console.log('');
    check(problems, answers.every((a) => a.status === 200), 'every delivery of the message is acknowledged with 200 (after redelivery if it timed out)');
    check(problems, inbound!.n === 1, `one inbound_events row for the wamid (got ${inbound!.n})`);
    check(problems, menus === 1, `one menu sent (got ${menus})`);
    check(problems, view.order.paymentStatus === 'paid', 'the order is paid');
    check(problems, view.statuses.filter((x) => x.type === 'paid').length === 1, 'paid once (one "paid" order event)');
    check(problems, stripeRows!.n === 1, `one inbound_events row for the Stripe event (got ${stripeRows!.n})`);
    check(problems, sim.sent(ada).filter(isTemplate('order_confirmed')).length === 1, 'one confirmation template');
    check(problems, sim.sent(ada).filter(textIncludes('/w/invite/')).length === 1, 'one invite link');
    return problems;
  },

  async 'late-payment'(sim) {
    const problems: string[] = [];
    const [ada, ben, cleo] = [sim.customer('Ada', '4915133330001'), sim.customer('Ben', '4915133330002'), sim.customer('Cleo', '4915133330003')];
    const shortHolds = async <T>(fn: () => Promise<T>) => {
      process.env.RESERVATION_TTL_SECONDS = '3';
      try {
        return await fn();
      } finally {
        delete process.env.RESERVATION_TTL_SECONDS;
      }
    };
    const mugs = (await sim.printStock(['MUG', 'TEA-CHAI'])).get('MUG')!.available!;

    sim.step(`Ada holds all ${mugs} mugs, with a 3-second hold for this scenario, and doesn't pay in time`);
    const adaLink = await shortHolds(async () => {
      await sim.say(ada, `buy mug ${mugs}`);
      return sim.waitFor(ada, 'the payment link', isType('cta_url'));
    });
    await sleep(3500);
    sim.log('Ada’s hold has lapsed (the cleanup has not run yet)');

    sim.step('Ben buys the mugs meanwhile (normal holds)');
    await sim.say(ben, `buy mug ${mugs}`);
    await sim.waitFor(ben, 'the payment link', isType('cta_url'));
    await sim.printStock(['MUG']);

    sim.step('Ada pays now: her mugs are gone, so she is refunded and told');
    const before = sim.sent(ada).length;
    await sim.pay(ada, adaLink);
    const sorry = await sim.waitFor(ada, 'the refund notice', (m) => textIncludes('refunded')(m) || isTemplate('hold_expired')(m), before);
    const adaOrder = await sim.printOrder(await sim.latestOrderId(ada));
    const refunds = (await (await fetch(`${sim.stack.stripe!.url}/_standin/refunds`)).json()) as { amount: number; status: string }[];
    sim.log(`Stripe refunds: ${refunds.map((r) => `${r.amount} ${r.status}`).join(', ') || 'none'}`);

    sim.step('Cleo also pays late (3-second hold), but her chai is still there: re-held and paid');
    const cleoLink = await shortHolds(async () => {
      await sim.say(cleo, 'buy chai 2');
      return sim.waitFor(cleo, 'the payment link', isType('cta_url'));
    });
    await sleep(3500);
    await sim.pay(cleo, cleoLink);
    await sim.waitFor(cleo, 'the confirmation', isTemplate('order_confirmed'));
    const cleoOrder = await sim.printOrder(await sim.latestOrderId(cleo));

    sim.step('The scheduled cleanup runs');
    const cleanup = await sim.call('/.netlify/functions/reservation-cleanup', { method: 'POST' });
    sim.log(`reservation-cleanup → ${cleanup.status} ${await cleanup.text()}`);
    const benOrder = await sim.printOrder(await sim.latestOrderId(ben));
    await sim.printStock(['MUG', 'TEA-CHAI']);

    console.log('');
    check(problems, adaOrder.order.paymentStatus === 'refunded', `Ada's late payment is refunded (order ${adaOrder.order.paymentStatus})`);
    check(problems, refunds.length === 1, 'one refund at Stripe');
    check(problems, !!sorry, 'Ada is told');
    check(problems, cleoOrder.order.paymentStatus === 'paid', `Cleo's late payment is accepted (order ${cleoOrder.order.paymentStatus})`);
    check(problems, benOrder.order.paymentStatus === 'pending' && benOrder.holds?.state === 'held', 'Ben keeps his hold');
    return problems;
  },
};

// ---- main ------------------------------------------------------------------------------------

function onPath(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

async function main(): Promise<number> {
  const scenario = scenarioName ? scenarios[scenarioName] : undefined;
  if (!scenario) {
    console.error(`usage: npm run simulate -- <scenario> [--real | --embedded] [--verbose]\nscenarios: ${Object.keys(scenarios).join(', ')}`);
    return 2;
  }
  const real = args.includes('--real') || (!args.includes('--embedded') && findPostgresBin() !== null && onPath('redis-server'));
  const t0 = Date.now();
  const stack = await startLocalStack({
    data: real ? 'real' : 'embedded',
    seedDemoCatalog: true,
    env: { LOG_LEVEL: verbose ? 'info' : 'error' },
  });
  const sim = new Sim(stack);
  console.log(`${bold(`simulate ${scenarioName}`)}  ${dim(`shop at ${stack.url}, started in ${Date.now() - t0} ms`)}`);
  console.log(dim(`  Postgres: ${stack.uses.postgres}\n  Redis:    ${stack.uses.redis}\n  WhatsApp: ${stack.uses.whatsapp}\n  Stripe:   ${stack.uses.stripe}`));
  try {
    await sim.init();
    const problems = await scenario(sim);
    sim.stop();
    console.log(problems.length ? red(`\n${scenarioName}: ${problems.length} check(s) failed`) : green(`\n${scenarioName}: all checks passed`));
    return problems.length ? 1 : 0;
  } catch (error) {
    sim.stop();
    console.error(red(`\n${scenarioName} failed: ${(error as Error).message}`));
    return 1;
  } finally {
    await stack.stop();
  }
}

process.exitCode = await main();
process.exit();
