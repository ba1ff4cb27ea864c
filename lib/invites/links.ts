import { getConfig } from '../config.js';

/**
 * The invite's links and pages (no SQL: the tokens are ./store.ts's): the forwardable link, the wa.me chat
 * it redirects to, prefilled with the order reference and the token, and the small pages of an unknown or
 * expired link.
 */

/** The forwardable link: APP_BASE_URL/w/invite/<token> (redirects to inviteChatUrl). */
export function inviteUrl(token: string): string {
  return `${getConfig().APP_BASE_URL}/w/invite/${token}`;
}

const businessDigits = () => getConfig().WHATSAPP_BUSINESS_NUMBER_E164.replace(/\D/g, '');

/** The prefilled text the contact sends; the conversation recognises `Token: <token>` in it. */
export function invitePrefill(reference: string, token: string): string {
  return `Hi, I'm contacting on behalf of order ${reference}. Token: ${token}`;
}

/** https://wa.me/<business number>?text=<prefill>: a chat with the shop, on wa.me only. */
export function inviteChatUrl(reference: string, token: string): string {
  return `https://wa.me/${businessDigits()}?text=${encodeURIComponent(invitePrefill(reference, token))}`;
}

/** A plain chat with the shop, without any token (offered when an invite has expired). */
export function shopChatUrl(text?: string): string {
  return `https://wa.me/${businessDigits()}${text ? `?text=${encodeURIComponent(text)}` : ''}`;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The small pages of the redirect when the token is unknown or expired. */
export function invitePage(kind: 'unknown' | 'expired'): string {
  const shop = escapeHtml(getConfig().SHOP_NAME);
  const [title, text] =
    kind === 'expired'
      ? [
          'This order link has expired',
          `Order links stay valid for ${getConfig().INVITE_TTL_DAYS} days. You can still reach ${shop} on WhatsApp, and we'll gladly help with the order.`,
        ]
      : ['We could not find this link', `Please check that the whole link was copied, or ask the person who sent it to forward it again. You can also write to ${shop} on WhatsApp.`];
  const contact = escapeHtml(shopChatUrl(kind === 'expired' ? 'Hi, my order link has expired. Could you help me?' : undefined));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{margin:0;font:16px/1.5 system-ui,sans-serif;background:#f4f6f5;color:#1c2321}main{max-width:420px;margin:15vh auto;padding:24px;background:#fff;border-radius:12px}
h1{font-size:20px;margin:0 0 8px}a.button{display:inline-block;margin-top:12px;padding:10px 16px;border-radius:8px;background:#128c7e;color:#fff;text-decoration:none}</style>
</head><body><main><h1>${escapeHtml(title)}</h1><p>${text}</p><a class="button" href="${contact}">Chat with ${shop}</a></main></body></html>`;
}
