// A local Ethereum node for the contract-wallet tests: ganache's EVM (real bytecode execution)
// behind a small JSON-RPC-over-HTTP server on 127.0.0.1, port chosen by the OS. It also compiles
// the test wallets (contracts/TestWallets.sol) with solc-js, so the tests deploy exactly these
// sources. Prints one JSON line on stdout: {"port": N, "contracts": {Name: {abi, bytecode}}}.
// Runs until stdin closes or SIGTERM.
//
//   node chain.mjs --chain-id 8453
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ganache from 'ganache';
import solc from 'solc';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
};
const chainId = Number(arg('chain-id', '1'));

/** Compiles TestWallets.sol; throws on any compiler error. */
export function compileTestWallets() {
  const source = readFileSync(join(here, 'contracts', 'TestWallets.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'TestWallets.sol': { content: source } },
    settings: {
      // ganache 7 implements the EVM up to Shanghai.
      evmVersion: 'shanghai',
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const contracts = {};
  for (const [name, c] of Object.entries(output.contracts['TestWallets.sol'])) {
    contracts[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
  }
  return { contracts, solcVersion: solc.version() };
}

const { contracts } = compileTestWallets();

const provider = ganache.provider({
  chain: { chainId, hardfork: 'shanghai' },
  wallet: { deterministic: true, totalAccounts: 2 },
  // Bounds what an eth_call may burn (a wallet that loops forever), as real providers do.
  miner: { callGasLimit: 2_000_000, blockGasLimit: 30_000_000 },
  logging: { quiet: true },
});

async function answer(req) {
  if (typeof req !== 'object' || req === null)
    return { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request' } };
  try {
    const result = await provider.request({ method: req.method, params: req.params ?? [] });
    return { jsonrpc: '2.0', id: req.id, result: result ?? null };
  } catch (err) {
    const data = err?.data?.data ?? err?.data;
    return {
      jsonrpc: '2.0',
      id: req.id,
      error: { code: typeof err?.code === 'number' ? err.code : -32000, message: String(err?.message ?? err), data },
    };
  }
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const out = Array.isArray(body) ? await Promise.all(body.map(answer)) : await answer(body);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, contracts })}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  provider.disconnect().finally(() => process.exit(0));
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
