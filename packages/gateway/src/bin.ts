#!/usr/bin/env node
// The degas-gateway command. Everything lives in cli.ts so tests and embedders can call it.
import { main } from './cli.js';

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`degas-gateway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
