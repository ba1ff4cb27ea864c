// Shared by the npm scripts: check only the variables the script uses, and fail with one line
// (what is missing or wrong, how to fix it) and a non-zero exit, never a stack trace or a secret.
import { ConfigError, requireConfig, type ConfigName } from '../lib/config.js';
import { redact } from '../lib/log.js';

export async function runScript(command: string, needs: readonly ConfigName[], main: () => Promise<number | void>): Promise<never> {
  let code: number;
  try {
    requireConfig(needs);
    code = (await main()) ?? 0;
  } catch (error) {
    console.error(oneLine(command, needs, error));
    code = 1;
  }
  process.exit(code);
}

function oneLine(command: string, needs: readonly ConfigName[], error: unknown): string {
  if (error instanceof ConfigError) {
    const example = needs.map((n) => `${n}=…`).join(' ');
    return `${command}: ${error.variables.join('; ')}. Set ${needs.length > 1 ? 'these variables' : 'it'} in the environment (see .env.example), e.g. \`${example} ${command}\`.`;
  }
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e?.cause ? ` (${e.cause.code ?? e.cause.message})` : '';
  return redact(`${command} failed: ${String(e?.message ?? error).split('\n')[0]}${cause}`);
}
