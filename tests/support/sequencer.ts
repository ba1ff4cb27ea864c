/**
 * Order of the test files: longest first, so the few long files start at once and the short ones fill the
 * workers around them (started last, a 2-minute file alone sets the run's end). Durations come from vitest's
 * cache of the previous run on this machine; a clean clone (CI) has none, so the long files' usual wall times
 * (measured on the 2-core machine, seconds) stand in, and any other file counts by its size.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { statSync } from 'node:fs';
import path from 'node:path';

const usualSeconds: Record<string, number> = {
  'tests/sandbox.test.ts': 145,
  'tests/webhook.test.ts': 92,
  'tests/bundle.test.ts': 67,
  'tests/conformance/conformance.test.ts': 54,
  'tests/log-scan.test.ts': 48,
  'tests/cleanup.test.ts': 38,
  'tests/conversation.test.ts': 30,
  'tests/lifecycle.test.ts': 30,
  'tests/reliability/fuzz.test.ts': 26,
  'tests/payment-callback.test.ts': 25,
  'tests/embedded/npm-start.test.ts': 24,
  'tests/reliability/faults.test.ts': 24,
};

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const expected = (spec: TestSpecification): number => {
      const cached = this.ctx.cache.getTestSpecificationResult(spec)?.duration;
      if (cached) return cached;
      const known = usualSeconds[path.relative(spec.project.config.root, spec.moduleId)];
      if (known) return known * 1000;
      return statSync(spec.moduleId).size / 10; // a 20 kB file ≈ 2 s: after every known long file
    };
    const ms = new Map(files.map((f) => [f, expected(f)]));
    return [...files].sort((a, b) => ms.get(b)! - ms.get(a)!);
  }
}
