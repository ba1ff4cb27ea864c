import type { Config, Context } from '@netlify/functions';
import { handleInviteRedirect } from '../../lib/http/invite-redirect.js';

/** GET /w/invite/:token, the forwardable order link: lib/http/invite-redirect.ts. */
export const config: Config = { path: '/w/invite/:token' };

export default (req: Request, context: Context) => handleInviteRedirect(req, context);
