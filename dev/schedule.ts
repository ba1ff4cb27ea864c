/**
 * Scheduled functions on their schedule, locally. Netlify runs a function whose `config.schedule`
 * is a cron expression (UTC) on the published deploy, as a POST from "Netlify Clockwork" with
 * `x-nf-event: schedule` and a JSON body `{ next_run }`; its local runtime only runs one when asked.
 * `npm start` uses this so a local hold lapses and its order expires as in production.
 * Local-only.
 */
import { CronExpressionParser } from 'cron-parser';
import { scheduledFunctions } from './invoke.js';

export type ScheduledRun = { name: string; at: Date; status: number | 'error'; ms: number };

export type LocalScheduler = {
  /** The scheduled functions found, with their cron expressions. */
  functions: { name: string; schedule: string }[];
  /** The latest runs, newest last (at most 100). */
  runs: ScheduledRun[];
  stop(): Promise<void>;
};

const nextRun = (schedule: string, after: Date) => CronExpressionParser.parse(schedule, { tz: 'Etc/UTC', currentDate: after }).next().toDate();

/**
 * Runs every scheduled function through `run` (the shop's own request handler, so the same
 * routing as any request) at its next cron time, or every `everyMs` when given (tests). A run
 * still going when the next one is due is not doubled: the next starts after it.
 */
export async function startScheduler(opts: {
  url: string;
  run: (request: Request) => Promise<Response>;
  everyMs?: number;
  log?: (line: string) => void;
}): Promise<LocalScheduler> {
  const functions = await scheduledFunctions();
  const runs: ScheduledRun[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();
  let stopped = false;

  const runOnce = async (name: string, next: Date) => {
    const started = Date.now();
    let status: ScheduledRun['status'] = 'error';
    try {
      const response = await opts.run(
        new Request(`${opts.url}/.netlify/functions/${name}`, {
          method: 'POST',
          headers: { 'user-agent': 'Netlify Clockwork', 'x-nf-event': 'schedule', 'content-type': 'application/json' },
          body: JSON.stringify({ next_run: next.toISOString() }),
        }),
      );
      await response.arrayBuffer();
      status = response.status;
    } catch (error) {
      opts.log?.(`scheduled ${name} failed: ${(error as Error).message}`);
    }
    runs.push({ name, at: new Date(started), status, ms: Date.now() - started });
    if (runs.length > 100) runs.shift();
  };

  const plan = (name: string, schedule: string) => {
    if (stopped) return;
    const due = opts.everyMs ? new Date(Date.now() + opts.everyMs) : nextRun(schedule, new Date());
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped) return;
      const after = opts.everyMs ? new Date(Date.now() + opts.everyMs) : nextRun(schedule, new Date(Date.now() + 1000));
      const done = runOnce(name, after).finally(() => {
        inFlight.delete(done);
        plan(name, schedule);
      });
      inFlight.add(done);
    }, Math.max(0, due.getTime() - Date.now()));
    timer.unref();
    timers.add(timer);
  };
  for (const { name, schedule } of functions) plan(name, schedule);

  return {
    functions,
    runs,
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.allSettled([...inFlight]);
    },
  };
}
