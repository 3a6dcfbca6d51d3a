// Shared bits of the benchmark's server processes (raw echo, raw relay, raw fan-out, echo Degas).
// Each is started with child_process.fork, reports `{ type: 'ready', port }` over IPC and exits
// when its parent disconnects or sends SIGTERM.
import { parseArgs } from 'node:util';

/** ws options used by every server in the benchmark, baselines and Degas alike. */
export const SERVER_WS_OPTIONS = {
  perMessageDeflate: false,
  maxPayload: 256 * 1024,
  skipUTF8Validation: true,
  clientTracking: false,
};

/**
 * @param {Record<string, import('node:util').ParseArgsOptionDescriptor>} options
 */
export function args(options) {
  return parseArgs({ options, allowPositionals: false }).values;
}

/**
 * Reports readiness to the parent and wires shutdown.
 * @param {number} port
 * @param {() => void} [onExit]
 */
export function ready(port, onExit) {
  const exit = () => {
    onExit?.();
    process.exit(0);
  };
  process.on('SIGTERM', exit);
  process.on('disconnect', exit);
  process.send?.({ type: 'ready', port });
}
