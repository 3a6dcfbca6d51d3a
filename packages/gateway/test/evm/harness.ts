/**
 * Test harness for contract-wallet logins: a local EVM (chain.mjs: ganache + solc, a real child
 * process on a port chosen by the OS), a fault-injecting JSON-RPC proxy in front of it, and the
 * test wallets deployed on it. To add a wallet, add its contract to contracts/TestWallets.sol and
 * deploy it in `deployWallets`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  type Abi,
  createPublicClient,
  createWalletClient,
  encodeFunctionData,
  type Hex,
  http,
  type PublicClient,
  serializeErc6492Signature,
} from 'viem';

const here = dirname(fileURLToPath(import.meta.url));

export interface Artifact {
  abi: Abi;
  bytecode: Hex;
}

/** A running local chain. */
export interface LocalChain {
  chainId: number;
  url: string;
  contracts: Record<string, Artifact>;
  stop(): Promise<void>;
}

/** Starts chain.mjs for `chainId` and waits for its port (compiling the wallets takes a few seconds). */
export async function startLocalChain(chainId: number): Promise<LocalChain> {
  const child: ChildProcess = spawn(process.execPath, [join(here, 'chain.mjs'), '--chain-id', String(chainId)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`chain.mjs exited with ${code} before it listened`)));
  });
  const { port, contracts } = JSON.parse(line) as { port: number; contracts: Record<string, Artifact> };
  return {
    chainId,
    url: `http://127.0.0.1:${port}`,
    contracts,
    async stop() {
      child.stdin?.end();
      await exited;
    },
  };
}

/** How the proxy treats the next requests. */
export type FaultMode = 'pass' | 'down' | 'slow' | 'garbage' | 'wrong-id' | 'http-500' | 'huge';

/** A JSON-RPC proxy that forwards to a chain, or fails as told; it counts calls by method. */
export class FaultProxy {
  mode: FaultMode = 'pass';
  readonly calls = new Map<string, number>();
  inFlight = 0;
  maxInFlight = 0;
  url = '';
  private server: Server | undefined;
  private held: ServerResponse[] = [];
  private heldWaiters: { n: number; resolve: () => void }[] = [];

  constructor(private readonly target: string) {}

  /** Total calls, or calls of one method. */
  count(method?: string): number {
    if (method !== undefined) return this.calls.get(method) ?? 0;
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/rpc/secret-api-key-123`;
    return this;
  }

  /** Resolves once `n` requests are held by "slow". */
  waitHeld(n = 1): Promise<void> {
    if (this.held.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.heldWaiters.push({ n, resolve }));
  }

  /** Answers the requests held by "slow" with an HTTP 503 (so nothing stays open). */
  releaseHeld(): void {
    for (const res of this.held.splice(0)) if (!res.writableEnded) res.writeHead(503).end();
  }

  async stop(): Promise<void> {
    this.releaseHeld();
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let method = 'unknown';
      let id: unknown = null;
      try {
        const parsed = JSON.parse(body.toString('utf8')) as { method?: string; id?: unknown };
        method = parsed.method ?? 'unknown';
        id = parsed.id;
      } catch {}
      this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.once('close', () => this.inFlight--);
      switch (this.mode) {
        case 'down':
          req.socket.destroy();
          return;
        case 'slow':
          this.held.push(res);
          this.heldWaiters = this.heldWaiters.filter((w) => {
            if (this.held.length < w.n) return true;
            w.resolve();
            return false;
          });
          return;
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' }).end('<html>Bad Gateway</html>');
          return;
        case 'wrong-id':
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ jsonrpc: '2.0', id: 987654, result: '0x1' }));
          return;
        case 'http-500':
          res.writeHead(500).end('internal error');
          return;
        case 'huge':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":"0x${'ab'.repeat(1024 * 1024)}"}`);
          return;
        case 'pass': {
          const up = request(
            this.target,
            { method: 'POST', headers: { 'content-type': 'application/json' } },
            (upRes) => {
              res.writeHead(upRes.statusCode ?? 502, { 'content-type': 'application/json' });
              upRes.pipe(res);
            },
          );
          up.on('error', () => res.destroy());
          up.end(body);
        }
      }
    });
  }
}

/** The deployed test wallets and the factory of counterfactual ones. */
export interface Wallets {
  /** OwnerWallet(owner). */
  owner: Hex;
  wrongMagic: Hex;
  dirtyMagic: Hex;
  reverting: Hex;
  gasBurner: Hex;
  factory: Hex;
  /** The counterfactual (not deployed) OwnerWallet of `counterfactualOwner` with salt `SALT`. */
  counterfactual: Hex;
  /** The ERC-6492 wrapper of an owner signature for `counterfactual`. */
  wrap6492(ownerSignature: Uint8Array, owner?: Hex): Hex;
  publicClient: PublicClient;
}

export const SALT = `0x${'5a'.repeat(32)}` as Hex;

/** Deploys every test wallet on `chain` from its first (unlocked) account. */
export async function deployWallets(chain: LocalChain, owner: Hex, counterfactualOwner: Hex): Promise<Wallets> {
  const viemChain = {
    id: chain.chainId,
    name: 'local',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [chain.url] } },
  } as const;
  const publicClient = createPublicClient({ chain: viemChain, transport: http(chain.url) }) as PublicClient;
  const [from] = (await publicClient.request({ method: 'eth_accounts' } as never)) as Hex[];
  const wallet = createWalletClient({ chain: viemChain, transport: http(chain.url), account: from! });
  const deploy = async (name: string, args: unknown[] = []): Promise<Hex> => {
    const { abi, bytecode } = chain.contracts[name]!;
    const hash = await wallet.deployContract({ abi, bytecode, args, gas: 10_000_000n } as never);
    const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    assert.equal(receipt.status, 'success', `deploying ${name} failed`);
    assert.ok(receipt.contractAddress != null, `deploying ${name} gave no contract address`);
    return receipt.contractAddress;
  };
  const factoryAbi = chain.contracts.OwnerWalletFactory!.abi;
  const factory = await deploy('OwnerWalletFactory');
  const counterfactual = (await publicClient.readContract({
    address: factory,
    abi: factoryAbi,
    functionName: 'walletAddress',
    args: [counterfactualOwner, SALT],
  })) as Hex;
  return {
    owner: await deploy('OwnerWallet', [owner]),
    wrongMagic: await deploy('WrongMagicWallet'),
    dirtyMagic: await deploy('DirtyMagicWallet'),
    reverting: await deploy('RevertingWallet'),
    gasBurner: await deploy('GasBurnerWallet'),
    factory,
    counterfactual,
    wrap6492(ownerSignature, walletOwner = counterfactualOwner) {
      return serializeErc6492Signature({
        address: factory,
        data: encodeFunctionData({ abi: factoryAbi, functionName: 'deploy', args: [walletOwner, SALT] }),
        signature: `0x${Buffer.from(ownerSignature).toString('hex')}`,
      });
    },
    publicClient,
  };
}
