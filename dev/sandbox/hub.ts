/**
 * The sandbox's view of the Meta side: one subscription per stack to the Graph stand-in's
 * Server-Sent Events (`GET /_standin/events`), folded into chat items (what the customer sent,
 * what the shop sent, with delivery statuses). Browsers read it through /sandbox/api/state and
 * /sandbox/api/events (see routes.ts); the subscription is opened on first use and seeded from the
 * stand-in's recorded messages and inbound payloads, so a page opened late still sees history.
 * Local-only.
 */

/** One bubble in a chat. `dir: 'in'` is a message the customer sent (inbound to the shop). */
export type ChatItem = {
  key: string;
  dir: 'in' | 'out';
  /** Customer's WhatsApp id (digits). */
  wa: string;
  /** ms since epoch (ordering). */
  at: number;
  /** Customer's profile name (inbound). */
  name?: string;
  /** in: the Meta webhook message object; out: the Graph API request body. */
  message: Record<string, unknown>;
  /** out: did the Graph stand-in accept the send? */
  accepted?: boolean;
  /** out: Meta's error for a rejected send. */
  error?: unknown;
  /** out: status webhooks posted for this message. */
  statuses: { status: string; at: number; webhookStatus?: number }[];
  /** in: HTTP status the webhook function answered (0: not delivered; undefined: in flight). */
  webhookStatus?: number;
  webhookError?: string;
  /** in: the shop marked it as read. */
  read?: boolean;
};

export type HubEvent = { id: number; item: ChatItem };

type RecordedMessage = {
  wamid: string | null;
  to: string;
  type: string;
  body: unknown;
  at: number;
  status: 'accepted' | 'rejected';
  error?: unknown;
  statuses: { status: string; at: number; webhookStatus: number }[];
};

const MAX_EVENTS = 5000;

export class ChatHub {
  private readonly items = new Map<string, ChatItem>();
  private events: HubEvent[] = [];
  private lastId = 0;
  private readonly listeners = new Set<(e: HubEvent) => void>();
  private readonly names = new Map<string, string>();
  private connecting: Promise<void> | null = null;

  constructor(private readonly graphUrl: string) {}

  /** Opens (or reopens) the subscription; resolves once history is seeded. */
  ensure(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = this.connect().catch((error) => {
      this.connecting = null;
      throw error;
    });
    return this.connecting;
  }

  get lastEventId(): number {
    return this.lastId;
  }

  all(): ChatItem[] {
    return [...this.items.values()].sort((a, b) => a.at - b.at);
  }

  since(id: number): HubEvent[] {
    return this.events.filter((e) => e.id > id);
  }

  subscribe(listener: (e: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  rememberName(wa: string, name: string | undefined): void {
    if (name) this.names.set(wa, name);
  }

  /** A message the sandbox is about to post: shown at once, before the shop's answer arrives. */
  addOutgoingCustomerMessage(item: Omit<ChatItem, 'statuses'>): void {
    this.upsert(item.key, () => ({ ...item, statuses: [] }), (existing) => ({ ...existing, ...item, statuses: existing.statuses }));
  }

  setDelivery(key: string, webhookStatus: number, error?: string): void {
    const existing = this.items.get(key);
    if (!existing) return;
    this.upsert(key, () => existing, (e) => ({ ...e, webhookStatus, ...(error ? { webhookError: error } : {}) }));
  }

  private emit(item: ChatItem): void {
    const event: HubEvent = { id: ++this.lastId, item: structuredClone(item) };
    this.events.push(event);
    if (this.events.length > MAX_EVENTS) this.events = this.events.slice(-MAX_EVENTS);
    for (const l of this.listeners) l(event);
  }

  private upsert(key: string, create: () => ChatItem, update: (existing: ChatItem) => ChatItem): void {
    const existing = this.items.get(key);
    const next = existing ? update(existing) : create();
    this.items.set(key, next);
    this.emit(next);
  }

  private onMessage(rec: RecordedMessage): void {
    const key = rec.wamid ?? `rejected:${rec.at}:${rec.to}:${rec.type}`;
    if (this.items.has(key)) return;
    this.upsert(
      key,
      () => ({
        key,
        dir: 'out',
        wa: rec.to,
        at: rec.at,
        message: (rec.body && typeof rec.body === 'object' ? rec.body : { type: rec.type, raw: rec.body }) as Record<string, unknown>,
        accepted: rec.status === 'accepted',
        ...(rec.error ? { error: rec.error } : {}),
        statuses: (rec.statuses ?? []).map((s) => ({ status: s.status, at: s.at, webhookStatus: s.webhookStatus })),
      }),
      (e) => e,
    );
  }

  private onStatus(s: { wamid: string; status: string; at: number; webhookStatus?: number }): void {
    const existing = this.items.get(s.wamid);
    if (!existing) return;
    if (existing.statuses.some((x) => x.status === s.status)) return;
    this.upsert(s.wamid, () => existing, (e) => ({ ...e, statuses: [...e.statuses, { status: s.status, at: s.at, webhookStatus: s.webhookStatus }] }));
  }

  private onInbound(i: { wamid: string; from: string; message?: Record<string, unknown>; webhookStatus?: number; at?: number; name?: string }): void {
    const existing = this.items.get(i.wamid);
    if (existing) {
      if (existing.webhookStatus === undefined && i.webhookStatus !== undefined) this.setDelivery(i.wamid, i.webhookStatus);
      return;
    }
    const ts = Number(i.message?.timestamp);
    this.upsert(
      i.wamid,
      () => ({
        key: i.wamid,
        dir: 'in',
        wa: i.from,
        // Meta timestamps are whole seconds: the message was sent no later than that.
        at: Number.isFinite(ts) && ts > 0 ? ts * 1000 : (i.at ?? Date.now()),
        name: i.name ?? this.names.get(i.from),
        message: i.message ?? {},
        statuses: [],
        ...(i.webhookStatus !== undefined ? { webhookStatus: i.webhookStatus } : {}),
      }),
      (e) => e,
    );
    if (!i.name && !this.names.has(i.from)) void this.learnName(i.wamid);
  }

  /** The events stream carries no contact names: read the one of a message posted by someone else (curl, Postman) from the inbound log. */
  private async learnName(wamid: string): Promise<void> {
    try {
      const inbound = (await fetch(`${this.graphUrl}/_standin/inbound`).then((r) => r.json())) as { entry?: { changes?: { value?: { contacts?: { profile?: { name?: string }; wa_id?: string }[]; messages?: { id?: string }[] } }[] }[] }[];
      for (const payload of inbound.reverse()) {
        const value = payload.entry?.[0]?.changes?.[0]?.value;
        if (value?.messages?.[0]?.id !== wamid) continue;
        const name = value.contacts?.[0]?.profile?.name;
        const item = this.items.get(wamid);
        if (name && item && !item.name) {
          this.names.set(item.wa, name);
          this.upsert(wamid, () => item, (e) => ({ ...e, name }));
        }
        return;
      }
    } catch {
      /* the stand-in is gone: no name then */
    }
  }

  private onRead(r: { messageId: string }): void {
    const existing = this.items.get(r.messageId);
    if (!existing || existing.dir !== 'in' || existing.read) return;
    this.upsert(r.messageId, () => existing, (e) => ({ ...e, read: true }));
  }

  private handle(event: string, data: unknown): void {
    try {
      if (event === 'message') this.onMessage(data as RecordedMessage);
      else if (event === 'status') this.onStatus(data as { wamid: string; status: string; at: number; webhookStatus?: number });
      else if (event === 'inbound') this.onInbound(data as { wamid: string; from: string; message?: Record<string, unknown>; webhookStatus?: number; at?: number });
      else if (event === 'read') this.onRead(data as { messageId: string });
    } catch {
      /* a malformed frame: ignore it */
    }
  }

  private async connect(): Promise<void> {
    const response = await fetch(`${this.graphUrl}/_standin/events`, { headers: { accept: 'text/event-stream' } });
    if (!response.ok || !response.body) throw new Error(`Graph stand-in events: HTTP ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    // Read live frames from now on; history recorded before the subscription is seeded next.
    const pump = (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += value;
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of frame.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length === 0) continue;
            try {
              this.handle(event, JSON.parse(data.join('\n')));
            } catch {
              /* not JSON */
            }
          }
        }
      } catch {
        /* the stand-in closed (stack stopping) */
      } finally {
        this.connecting = null;
      }
    })();
    void pump;

    const [messages, inbound] = await Promise.all([
      fetch(`${this.graphUrl}/_standin/messages`).then((r) => r.json() as Promise<RecordedMessage[]>),
      fetch(`${this.graphUrl}/_standin/inbound`).then((r) => r.json() as Promise<unknown[]>),
    ]);
    const seeded: { at: number; apply: () => void }[] = [];
    for (const m of messages) seeded.push({ at: m.at, apply: () => this.onMessage(m) });
    for (const payload of inbound) {
      const value = (payload as { entry?: { changes?: { value?: { contacts?: { profile?: { name?: string }; wa_id?: string }[]; messages?: Record<string, unknown>[] } }[] }[] })
        .entry?.[0]?.changes?.[0]?.value;
      const message = value?.messages?.[0];
      const from = message?.from ?? message?.from_user_id;
      if (!message || typeof message.id !== 'string' || typeof from !== 'string') continue;
      const name = value?.contacts?.[0]?.profile?.name;
      seeded.push({ at: Number(message.timestamp) * 1000, apply: () => this.onInbound({ wamid: message.id as string, from, message, name }) });
    }
    seeded.sort((a, b) => a.at - b.at).forEach((s) => s.apply());
  }
}
