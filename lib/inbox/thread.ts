/** A conversation's thread as the inbox shows it, folded from the rows lib/inbox/store.ts reads (no SQL here). */

const iso = (v: unknown): string | null => (v ? new Date(v as string).toISOString() : null);

export type ThreadItem = {
  id: string;
  direction: 'in' | 'out';
  wamid: string | null;
  kind: string;
  at: string;
  body: string | null;
  data: Record<string, unknown> | null;
  contentDeleted?: boolean;
  // outbound
  from?: 'bot' | 'notice' | 'staff';
  staff?: string | null;
  status?: string;
  delivery?: string | null;
  error?: string | null;
  // folded in from other messages
  reactions?: { emoji: string; at: string }[];
  edits?: { body: string | null; at: string }[];
  revokedAt?: string | null;
};

/** Rows → thread items; reactions, edits and revokes shown on the message they are about (when it is in the thread). */
export function foldThread(rows: Record<string, unknown>[]): ThreadItem[] {
  const items: ThreadItem[] = [];
  const byWamid = new Map<string, ThreadItem>();
  const pending: Record<string, unknown>[] = [];
  for (const r of rows) {
    const item = r.dir === 'in' ? inboundItem(r) : outboundItem(r);
    if (r.dir === 'in' && ['reaction', 'edit', 'revoke'].includes(r.kind as string) && r.ref_wamid) pending.push(r);
    items.push(item);
    if (item.wamid) byWamid.set(item.wamid, item);
  }
  const folded = new Set<string>();
  for (const r of pending) {
    const target = byWamid.get(r.ref_wamid as string);
    if (!target) continue;
    const at = iso(r.at)!;
    if (r.kind === 'reaction') {
      // The latest reaction of the customer stands (an empty emoji removed it).
      target.reactions = r.body ? [{ emoji: r.body as string, at }] : [];
    } else if (r.kind === 'edit') {
      (target.edits ??= []).push({ body: (r.body as string | null) ?? null, at });
    } else {
      target.revokedAt = at;
    }
    folded.add(r.wamid as string);
  }
  return items.filter((i) => !(i.direction === 'in' && i.wamid && folded.has(i.wamid)));
}

function inboundItem(r: Record<string, unknown>): ThreadItem {
  return {
    id: `in:${r.id}`,
    direction: 'in',
    wamid: r.wamid as string,
    kind: r.kind as string,
    at: iso(r.at)!,
    body: (r.body as string | null) ?? null,
    data: (r.data as Record<string, unknown> | null) ?? (r.ref_wamid ? { refWamid: r.ref_wamid } : null),
    ...(r.content_deleted_at ? { contentDeleted: true } : {}),
  };
}

function outboundItem(r: Record<string, unknown>): ThreadItem {
  const payload = (r.data as Record<string, unknown> | null) ?? {};
  const from = r.out_kind === 'staff' ? 'staff' : r.out_kind === 'reply' ? 'bot' : 'notice';
  return {
    id: `out:${r.id}`,
    direction: 'out',
    wamid: (r.wamid as string | null) ?? null,
    kind: (r.kind as string) ?? 'text',
    at: iso(r.at)!,
    body: outboundText(payload),
    data: payload.type === 'template' ? { template: payload.name, language: payload.language } : null,
    from,
    staff: (r.sent_by as string | null) ?? null,
    status: r.status as string,
    delivery: (r.delivery as string | null) ?? null,
    error: (r.error as string | null) ?? null,
  };
}

function outboundText(p: Record<string, unknown>): string | null {
  if (typeof p.body === 'string') return p.body;
  if (p.type === 'template') {
    const params = ((p.components as { parameters?: { text?: string }[] }[] | undefined) ?? []).flatMap((c) => c.parameters ?? []).map((x) => x.text ?? '');
    return `Template ${String(p.name)}${params.length ? `: ${params.join(' · ')}` : ''}`;
  }
  return null;
}

