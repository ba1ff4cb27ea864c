import type { Config } from '@netlify/functions';
import { handleReservationCleanup } from '../../lib/http/cleanup.js';

/**
 * Every minute: lapsed holds → expire their Checkout Session, release the stock, mark the order
 * expired and tell the customer; reconcile orders Redis forgot; retry the outbox; re-drive
 * unprocessed Meta events. Bounded (stops starting work after 20 s of Netlify's 30 s) and safe to
 * overlap with itself and with payments. Answers (and logs) the JSON summary; locally it runs on
 * POST /.netlify/functions/reservation-cleanup.
 */
export default () => handleReservationCleanup();

export const config: Config = { schedule: '* * * * *' };
