import { needs } from '../config-needs.js';
import { withConfig, type EdgeContext } from './edge.js';
import { text } from './respond.js';

/**
 * GET /w/invite/:token — the forwardable order link. A valid token redirects (302) to a wa.me
 * chat with the shop, prefilled with the order reference and the token; the click is counted.
 * Unknown → 404, expired → 410, each a small page offering a chat with the shop.
 */
const noStore = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-robots-tag': 'noindex' };

export const handleInviteRedirect = (req: Request, context: EdgeContext): Promise<Response> =>
  withConfig('invite-redirect', async () => {
    if (req.method !== 'GET') return text('method not allowed', 405);
    const [{ followInvite }, { invitePage }] = await Promise.all([import('../invites/store.js'), import('../invites/links.js')]);
    const result = await followInvite(context.params.token ?? '');
    if (result.status === 'valid') return new Response(null, { status: 302, headers: { location: result.location, ...noStore } });
    return new Response(invitePage(result.status), {
      status: result.status === 'expired' ? 410 : 404,
      headers: { 'content-type': 'text/html; charset=utf-8', ...noStore },
    });
  }, needs.inviteRedirect);
