import { defineConfig } from 'vitest/config';

// The reliability suite (tests/reliability): fuzz, security, load, storms and faults, functions invoked in
// process against real postgres + redis-server. RELIABILITY_SCALE=full (npm run test:reliability) runs the
// full counts; without it (npm test, CI) a smaller sample with the same fixed seed.
const full = process.env.RELIABILITY_SCALE === 'full';
// Counts raised by hand (FUZZ_RUNS, LOAD_SECONDS) get the full run's time limit too.
const long = full || !!process.env.FUZZ_RUNS || !!process.env.LOAD_SECONDS;

export default defineConfig({
  test: {
    include: ['tests/reliability/**/*.test.ts'],
    setupFiles: ['tests/reliability/support/log-leaks.ts'],
    testTimeout: long ? 60 * 60_000 : 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
