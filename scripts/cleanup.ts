// npm run cleanup: one run of the scheduled reservation cleanup, by hand (e.g. against production when
// a schedule was missed); prints its JSON summary. Safe to overlap with the scheduled runs.
import { needs } from '../lib/config-needs.js';
import { runScript } from './cli.js';

await runScript('npm run cleanup', needs.reservationCleanup, async () => {
  const { runReservationCleanup } = await import('../lib/flows/cleanup.js');
  console.log(JSON.stringify(await runReservationCleanup()));
});
