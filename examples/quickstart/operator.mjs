// What an operator does by hand, for start.mjs and bots.mjs: where things live, and creating an
// account with the real `degas-gateway accounts add` command.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '../..');
export const GATEWAY_BIN = join(REPO_ROOT, 'packages/gateway/dist/bin.js');
/**
 * start.mjs's working directory (gitignored): accounts file, session info, bot keys.
 * QUICKSTART_RUN_DIR moves it (the smoke test uses a temporary one).
 */
export const RUN_DIR = process.env.QUICKSTART_RUN_DIR ? resolve(process.env.QUICKSTART_RUN_DIR) : join(HERE, '.run');
/** Written by start.mjs while it runs: `{gatewayUrl, degasId, accountsFile}`, read by bots.mjs. */
export const SESSION_FILE = join(RUN_DIR, 'session.json');

/** Throws a readable error when the gateway has not been built yet. */
export function requireGatewayBin() {
  if (!existsSync(GATEWAY_BIN)) {
    throw new Error(`${GATEWAY_BIN} is missing: build the workspace first (pnpm build, or ./quickstart.sh)`);
  }
}

/**
 * Runs `degas-gateway accounts add --address ADDRESS --accounts FILE` and resolves with the new
 * account id it prints. The command serializes concurrent adds with a lock file and writes the
 * file atomically; a running gateway picks the change up by itself.
 * @param {{address: string, accountsFile: string}} options
 * @returns {Promise<string>} the account id, `0x` + 32 hex digits
 */
export function addAccountWithBin({ address, accountsFile }) {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      [GATEWAY_BIN, 'accounts', 'add', '--address', address, '--accounts', accountsFile],
      { timeout: 15_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (err, stdout, stderr) => {
        if (err) {
          const why = stderr.trim() || err.message;
          reject(new Error(`degas-gateway accounts add failed: ${why}`));
          return;
        }
        const id = /0x[0-9a-fA-F]{32}\b/.exec(stdout)?.[0];
        if (id === undefined) {
          reject(new Error(`degas-gateway accounts add printed no account id: ${JSON.stringify(stdout.trim())}`));
          return;
        }
        resolvePromise(id.toLowerCase());
      },
    );
  });
}
