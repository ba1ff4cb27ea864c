/**
 * The Graph stand-in's team-inbox endpoints (wired into ./graph.ts), as Meta documents them (checked
 * 2026-12 against Meta's Cloud API reference as quoted by whatsapp-api-js `ServerMediaRetrieveResponse`
 * and the Kapso proxy's OpenAPI of `GET /{media_id}`):
 *  - GET /{media-id}[?phone_number_id=] → `{messaging_product: "whatsapp", url, mime_type, sha256, file_size
 *    (a string), id}`; the url is short-lived (5 minutes) and shaped like Meta's
 *    `…/whatsapp_business/attachments/?mid=<id>&ext=<expiry>&hash=<…>`;
 *  - the download URL answers the bytes only with `Authorization: Bearer <access token>` (else 401), and 404
 *    once it expired;
 * Read receipts and the typing indicator (POST /messages {status: "read", message_id, typing_indicator?})
 * are in ./graph.ts already. Control: POST /_standin/media (raw bytes, Content-Type) stores a file as a
 * customer's phone would upload it and answers `{id, sha256, file_size, mime_type}`; GET /_standin/media-downloads.
 */
import type http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

type StoredMedia = { id: string; bytes: Buffer; mimeType: string; sha256: string; filename?: string };

import type { StoredTemplate } from './graph-templates.js';

export type InboxTemplate = StoredTemplate;

/** Templates a shop's WABA typically has (names as in .env.example), approved, plus one pending: seeded into graph-templates.ts for the inbox test and `npm start`. */
export const DEFAULT_TEMPLATES: InboxTemplate[] = [
  { name: 'order_confirmed', language: 'en', status: 'APPROVED', category: 'UTILITY', id: '1000000000000001', components: [{ type: 'BODY', text: 'Thank you! Your order {{1}} is confirmed. We received {{2}}. {{3}}' }] },
  { name: 'order_invite_link', language: 'en', status: 'APPROVED', category: 'UTILITY', id: '1000000000000002', components: [{ type: 'BODY', text: 'Please forward this link to your elder for direct chat about order {{1}}: {{2}}' }] },
  {
    name: 'order_shipped', language: 'en', status: 'APPROVED', category: 'UTILITY', id: '1000000000000003',
    components: [
      { type: 'HEADER', format: 'TEXT', text: 'Order {{1}} is on its way' },
      { type: 'BODY', text: 'Hi {{1}}, your order has shipped.' },
      { type: 'BUTTONS', buttons: [{ type: 'URL', text: 'Track order', url: 'https://track.example/{{1}}' }] },
    ],
  },
  { name: 'offline_payment', language: 'en', status: 'APPROVED', category: 'UTILITY', id: '1000000000000004', components: [{ type: 'BODY', text: 'Hi {{1}}, we received your payment of {{2}} on {{3}}. Thank you!' }] },
  { name: 'hold_expired', language: 'en', status: 'APPROVED', category: 'UTILITY', id: '1000000000000005', components: [{ type: 'BODY', text: 'Your reservation for order {{1}} has lapsed and the items were released. Reply "menu" to order again.' }] },
  { name: 'support_follow_up', language: 'en', status: 'PENDING', category: 'UTILITY', id: '1000000000000006', components: [{ type: 'BODY', text: 'Hi {{1}}, we have an update about your question.' }] },
];

const URL_TTL_MS = 5 * 60_000;

export function createInboxStandIn(opts: { accessToken: string; root: () => string }) {
  const media = new Map<string, StoredMedia>();
  const downloads: { id: string; authorized: boolean; at: number }[] = [];

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  return {
    /** A customer's upload: the id Meta puts in the inbound message (`image.id`). */
    store(bytes: Buffer, mimeType: string, filename?: string): StoredMedia {
      const id = String(BigInt('0x' + randomBytes(7).toString('hex')) + 1_000_000_000_000_000n);
      const m: StoredMedia = { id, bytes, mimeType, sha256: createHash('sha256').update(bytes).digest('hex'), ...(filename ? { filename } : {}) };
      media.set(id, m);
      return m;
    },
    downloads: () => structuredClone(downloads),

    /** Graph API (authenticated already): GET /{media-id}. True when handled (templates: graph-templates.ts). */
    graph(req: http.IncomingMessage, res: http.ServerResponse, url: URL, nodeId: string, edge: string | undefined, wabaId: string): boolean {
      if (req.method === 'GET' && !edge && media.has(nodeId)) {
        const m = media.get(nodeId)!;
        const ext = Math.floor((Date.now() + URL_TTL_MS) / 1000);
        const hash = createHash('sha256').update(`${m.id}:${ext}`).digest('base64url').slice(0, 22);
        send(res, 200, {
          messaging_product: 'whatsapp',
          url: `${opts.root()}/whatsapp_business/attachments/?mid=${m.id}&ext=${ext}&hash=${hash}`,
          mime_type: m.mimeType,
          sha256: m.sha256,
          file_size: String(m.bytes.length),
          id: m.id,
        });
        return true;
      }
      return false;
    },

    /** The download URL: bytes only with the bearer token and before it expires. */
    download(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
      const id = url.searchParams.get('mid') ?? '';
      const token = req.headers.authorization?.match(/^Bearer\s+(.+)$/i)?.[1];
      const authorized = token === opts.accessToken;
      downloads.push({ id, authorized, at: Date.now() });
      if (!authorized) return send(res, 401, { error: { message: 'Invalid OAuth access token.', type: 'OAuthException', code: 190 } });
      const m = media.get(id);
      if (!m || Number(url.searchParams.get('ext') ?? 0) * 1000 < Date.now()) return send(res, 404, { error: { message: 'media not found or URL expired', code: 100 } });
      res.writeHead(200, { 'content-type': m.mimeType, 'content-length': String(m.bytes.length) });
      res.end(m.bytes);
    },
  };
}
