import { needs } from '../config-needs.js';
import { withConfig } from './edge.js';
import { json } from './respond.js';

/**
 * The scheduled cleanup (netlify/functions/reservation-cleanup.ts): lapsed holds, forgotten
 * orders, the outbox and unprocessed Meta events; answers (and logs) the JSON summary.
 */
export const handleReservationCleanup = (): Promise<Response> =>
  withConfig('reservation-cleanup', async () => {
    const { runReservationCleanup } = await import('../flows/cleanup.js');
    return json(await runReservationCleanup());
  }, needs.reservationCleanup);
