/**
 * Smart-contract wallet logins (PROTOCOL.md 4.2 step 5, extension): ERC-1271 and ERC-6492
 * signatures checked through an Ethereum JSON-RPC endpoint per chain (`--eth-rpc CHAINID=URL`),
 * with viem's `verifyHash` (deployless universal validator). viem is loaded only when an endpoint
 * is configured.
 *
 * Abuse bounds: the session hands a signature here only after step 1 (an enabled signer of the
 * account) and after the EOA check failed; each endpoint has a concurrency limit, a bounded
 * queue and a per-call timeout inside the `eth_auth` deadline; its responses are size-capped and
 * validated; a failing endpoint makes those logins `unavailable` and nothing else.
 *
 * Endpoint URLs often carry an API key: they are never logged, shown or put into metrics; only
 * the chain id and the URL's origin (scheme://host[:port]) are.
 */
import { performance } from 'node:perf_hooks';
import { GatewayError } from './errors.js';
import type { Logger } from './logger.js';
import type { ContractWalletChecker, VerifyOutcome } from './verifier.js';

/** One `--eth-rpc CHAINID=URL`. */
export interface EthRpcEndpointConfig {
  chainId: number;
  /** `http://` or `https://` JSON-RPC URL (may contain an API key: never logged). */
  url: string;
}

/** Options of {@link createEthRpc}. */
export interface EthRpcOptions {
  endpoints: readonly EthRpcEndpointConfig[];
  /** Contract-wallet checks in flight per endpoint. Default 8. */
  concurrency?: number | undefined;
  /** Checks waiting per endpoint beyond `concurrency`; more are `unavailable` at once. Default 256. */
  queueLimit?: number | undefined;
  /** Longest one JSON-RPC call may take (also bounded by the login's deadline). Default 5000 ms. */
  timeoutMs?: number | undefined;
  logger: Logger;
}

/** Health of one endpoint, for /readyz and /metrics. */
export type EthRpcState = 'unknown' | 'up' | 'down' | 'wrong_chain';

/** What /readyz and /metrics show of one endpoint (never its URL, which may hold a key). */
export interface EthRpcEndpointStatus {
  chainId: number;
  /** scheme://host[:port] of the URL. */
  origin: string;
  state: EthRpcState;
  inFlight: number;
  queued: number;
  /** Short reason of the last failure (no URL, no response body). */
  lastError: string | undefined;
}

/** Counters of one endpoint (plain numbers, rendered by /metrics). */
export interface EthRpcEndpointStats {
  /** JSON-RPC calls made, by method. */
  calls: Map<string, number>;
  /** Calls that failed at the transport: `network`, `timeout`, `http_status`, `bad_response`, `too_large`. */
  failures: Map<string, number>;
  /** Contract-wallet checks, by outcome (`ok`, `invalid`, `unavailable`). */
  checks: Map<VerifyOutcome, number>;
  /** Checks refused at once because the queue was full or the deadline had passed. */
  rejected: number;
  /** Call latency histogram: counts per ETH_RPC_BUCKETS_MS bound, then +Inf. */
  latencyBuckets: number[];
  latencySumMs: number;
  latencyCount: number;
}

/** Upper bounds (ms) of the JSON-RPC call latency histogram. */
export const ETH_RPC_BUCKETS_MS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const;

/** The contract-wallet checker of a gateway. */
export interface EthRpc extends ContractWalletChecker {
  /** Status of every endpoint, in chain id order. */
  status(): EthRpcEndpointStatus[];
  /** Counters of every endpoint, keyed by chain id. */
  readonly stats: ReadonlyMap<number, EthRpcEndpointStats>;
  /** Stops queued checks (`unavailable`); calls in flight end on their own timeouts. */
  close(): void;
}

/** An endpoint answered another chain id than the one it is configured for (exit 2 in the bin). */
export class EthRpcChainMismatchError extends GatewayError<'ETH_RPC_CHAIN_MISMATCH'> {
  override name = 'EthRpcChainMismatchError' as const;
  constructor(message: string) {
    super('ETH_RPC_CHAIN_MISMATCH', message);
  }
}

/** Largest JSON-RPC response body read (a wallet's code is at most a few dozen KiB of hex). */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const DEFAULTS = { concurrency: 8, queueLimit: 256, timeoutMs: 5000 } as const;

/** The URL's origin, for logs and metrics. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'invalid-url';
  }
}

/** A transport-level failure: the endpoint, not the wallet, is at fault. */
class TransportError extends Error {
  constructor(readonly reason: string) {
    super(`eth-rpc ${reason}`);
  }
}

/** A JSON-RPC error response (e.g. a reverted eth_call), in the EIP-1193 shape viem expects. */
class JsonRpcResponseError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly data: unknown,
  ) {
    super(message);
  }
}

type Viem = typeof import('viem');

/** One contract-wallet check: hex arguments of the call, and when its login's deadline falls. */
interface Check {
  address: `0x${string}`;
  digest: `0x${string}`;
  signature: `0x${string}`;
  /** `performance.now()` time. */
  deadline: number;
}

interface Waiting {
  deadline: number;
  start: () => void;
  reject: () => void;
}

interface Endpoint {
  chainId: number;
  url: string;
  origin: string;
  state: EthRpcState;
  /** eth_chainId answered this endpoint's chain id. */
  confirmed: boolean;
  inFlight: number;
  queue: Waiting[];
  lastError: string | undefined;
  stats: EthRpcEndpointStats;
  nextId: number;
}

function newStats(): EthRpcEndpointStats {
  return {
    calls: new Map(),
    failures: new Map(),
    checks: new Map(),
    rejected: 0,
    latencyBuckets: new Array<number>(ETH_RPC_BUCKETS_MS.length + 1).fill(0),
    latencySumMs: 0,
    latencyCount: 0,
  };
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function observe(stats: EthRpcEndpointStats, ms: number): void {
  let i = 0;
  while (i < ETH_RPC_BUCKETS_MS.length && ms > ETH_RPC_BUCKETS_MS[i]!) i++;
  stats.latencyBuckets[i]!++;
  stats.latencySumMs += ms;
  stats.latencyCount++;
}

/** Reads at most MAX_RESPONSE_BYTES of a response body. */
async function readCapped(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES) throw new TransportError('too_large');
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_RESPONSE_BYTES) {
      await reader.cancel().catch(() => {});
      throw new TransportError('too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * One JSON-RPC call over HTTP POST: bounded by `timeoutMs`, body size-capped, answer validated.
 * Transport problems throw TransportError; a JSON-RPC error answer throws JsonRpcResponseError.
 */
async function rpcCall(ep: Endpoint, method: string, params: unknown, timeoutMs: number): Promise<unknown> {
  const stats = ep.stats;
  bump(stats.calls, method);
  const started = performance.now();
  const id = ep.nextId++;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(1, timeoutMs));
  try {
    let res: Response;
    try {
      res = await fetch(ep.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params: params ?? [] }),
        signal: controller.signal,
        redirect: 'error',
      });
    } catch {
      throw new TransportError(controller.signal.aborted ? 'timeout' : 'network');
    }
    let text: string;
    try {
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        throw new TransportError('http_status');
      }
      text = await readCapped(res);
    } catch (err) {
      if (err instanceof TransportError) throw err;
      throw new TransportError(controller.signal.aborted ? 'timeout' : 'network');
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new TransportError('bad_response');
    }
    if (!isObject(body) || body.jsonrpc !== '2.0' || body.id !== id) throw new TransportError('bad_response');
    // A well-formed answer, even an error one: the endpoint works.
    if (ep.confirmed) {
      ep.state = 'up';
      ep.lastError = undefined;
    }
    if (isObject(body.error)) {
      const { code, message, data } = body.error;
      if (typeof code !== 'number' || typeof message !== 'string') throw new TransportError('bad_response');
      throw new JsonRpcResponseError(message.slice(0, 200), code, data);
    }
    if (!('result' in body)) throw new TransportError('bad_response');
    return body.result;
  } catch (err) {
    if (err instanceof TransportError) {
      bump(stats.failures, err.reason);
      ep.state = 'down';
      ep.lastError = err.reason;
    }
    throw err;
  } finally {
    clearTimeout(timer);
    observe(stats, performance.now() - started);
  }
}

const HEX_QUANTITY = /^0x(?:0|[1-9a-f][0-9a-f]*)$/i;

/** Confirms that the endpoint serves its configured chain (eth_chainId). */
async function confirmChain(ep: Endpoint, timeoutMs: number, log: Logger): Promise<void> {
  const result = await rpcCall(ep, 'eth_chainId', [], timeoutMs);
  if (typeof result !== 'string' || !HEX_QUANTITY.test(result)) {
    bump(ep.stats.failures, 'bad_response');
    ep.state = 'down';
    ep.lastError = 'bad_response';
    throw new TransportError('bad_response');
  }
  const answered = BigInt(result);
  if (answered !== BigInt(ep.chainId)) {
    ep.state = 'wrong_chain';
    ep.lastError = `eth_chainId answered ${answered}`;
    log.error('eth-rpc endpoint serves another chain', {
      chain_id: ep.chainId,
      origin: ep.origin,
      answered: answered.toString(),
    });
    throw new EthRpcChainMismatchError(
      `--eth-rpc for chain ${ep.chainId} (${ep.origin}) answers eth_chainId ${answered}: it serves another chain`,
    );
  }
  ep.confirmed = true;
  ep.state = 'up';
  ep.lastError = undefined;
}

function toHex(bytes: Uint8Array): `0x${string}` {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}

/**
 * Creates the contract-wallet checker: loads viem, asks each endpoint's `eth_chainId` (a mismatch
 * throws {@link EthRpcChainMismatchError}; an unreachable endpoint is logged, marked down and
 * confirmed before its first use).
 * @example
 * const ethRpc = await createEthRpc({ endpoints: [{ chainId: 8453, url: 'https://base.example/rpc' }], logger });
 * const outcome = await ethRpc.verify(8453, '0xabc…', digest, signature, performance.now() + 5000);
 */
export async function createEthRpc(options: EthRpcOptions): Promise<EthRpc> {
  const concurrency = options.concurrency ?? DEFAULTS.concurrency;
  const queueLimit = options.queueLimit ?? DEFAULTS.queueLimit;
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const log = options.logger;
  const endpoints = new Map<number, Endpoint>();
  for (const { chainId, url } of options.endpoints) {
    if (endpoints.has(chainId)) throw new RangeError(`ethRpc: chain ${chainId} is given twice`);
    endpoints.set(chainId, {
      chainId,
      url,
      origin: redactUrl(url),
      state: 'unknown',
      confirmed: false,
      inFlight: 0,
      queue: [],
      lastError: undefined,
      stats: newStats(),
      nextId: 1,
    });
  }
  const viem: Viem = await import('viem');
  let closed = false;

  await Promise.all(
    [...endpoints.values()].map(async (ep) => {
      try {
        await confirmChain(ep, timeoutMs, log);
        log.info('eth-rpc endpoint ready', { chain_id: ep.chainId, origin: ep.origin });
      } catch (err) {
        if (err instanceof EthRpcChainMismatchError) throw err;
        log.warn('eth-rpc endpoint not reachable at start; contract-wallet logins on its chain fail until it is', {
          chain_id: ep.chainId,
          origin: ep.origin,
          reason: ep.lastError,
        });
      }
    }),
  );

  /** One check, with the endpoint's slot held. */
  const check = async (ep: Endpoint, { address, digest, signature, deadline }: Check): Promise<VerifyOutcome> => {
    const callTimeout = (): number => {
      const left = deadline - performance.now();
      if (left <= 0) throw new TransportError('timeout');
      return Math.min(timeoutMs, left);
    };
    // This check's own transport, so that a transport failure is attributed to this login.
    let transportFailed = false;
    const client = viem.createPublicClient({
      transport: viem.custom(
        {
          async request({ method, params }: { method: string; params?: unknown }) {
            try {
              return await rpcCall(ep, method, params, callTimeout());
            } catch (err) {
              if (err instanceof TransportError) transportFailed = true;
              throw err;
            }
          },
        },
        { retryCount: 0 },
      ),
      batch: { multicall: false },
      cacheTime: 0,
    });
    try {
      if (!ep.confirmed) await confirmChain(ep, callTimeout(), log);
      // ERC-8010 (pre-delegated EIP-7702) signatures are not part of the protocol.
      if (viem.isErc8010Signature(signature)) return 'invalid';
      // An address with no code is an EOA unless the signature deploys it (ERC-6492): its
      // signatures were judged by the EOA rules, which this path must not bypass.
      const code = await client.getCode({ address });
      if ((code === undefined || code === '0x') && !viem.isErc6492Signature(signature)) return 'invalid';
      const valid = await client.verifyHash({ address, hash: digest, signature });
      if (transportFailed) return 'unavailable';
      return valid ? 'ok' : 'invalid';
    } catch (err) {
      if (transportFailed || err instanceof TransportError || err instanceof EthRpcChainMismatchError) {
        return 'unavailable';
      }
      // A JSON-RPC error answer outside eth_call (e.g. eth_getCode refused): the endpoint's fault.
      ep.lastError = 'rpc_error';
      return 'unavailable';
    }
  };

  const release = (ep: Endpoint): void => {
    ep.inFlight--;
    while (ep.queue.length > 0 && ep.inFlight < concurrency) {
      const next = ep.queue.shift()!;
      if (next.deadline <= performance.now()) {
        ep.stats.rejected++;
        next.reject();
      } else next.start();
    }
  };

  const run = (ep: Endpoint, request: Check): Promise<VerifyOutcome> => {
    ep.inFlight++;
    return check(ep, request).then(
      (outcome) => {
        bump(ep.stats.checks, outcome);
        release(ep);
        return outcome;
      },
      () => {
        bump(ep.stats.checks, 'unavailable');
        release(ep);
        return 'unavailable';
      },
    );
  };

  return {
    stats: new Map([...endpoints].map(([chainId, ep]) => [chainId, ep.stats])),
    has: (chainId) => !closed && endpoints.has(chainId),
    verify(chainId, address, digestBytes, signatureBytes, deadline) {
      const ep = endpoints.get(chainId);
      if (ep === undefined || closed) return Promise.resolve('invalid');
      if (ep.state === 'wrong_chain' || deadline <= performance.now()) {
        ep.stats.rejected++;
        bump(ep.stats.checks, 'unavailable');
        return Promise.resolve('unavailable');
      }
      const request: Check = {
        address: address as `0x${string}`,
        digest: toHex(digestBytes),
        signature: toHex(signatureBytes),
        deadline,
      };
      if (ep.inFlight < concurrency) return run(ep, request);
      if (ep.queue.length >= queueLimit) {
        ep.stats.rejected++;
        bump(ep.stats.checks, 'unavailable');
        return Promise.resolve('unavailable');
      }
      return new Promise<VerifyOutcome>((resolve) => {
        ep.queue.push({
          deadline,
          start: () => resolve(run(ep, request)),
          reject: () => {
            bump(ep.stats.checks, 'unavailable');
            resolve('unavailable');
          },
        });
      });
    },
    status() {
      return [...endpoints.values()]
        .sort((a, b) => a.chainId - b.chainId)
        .map((ep) => ({
          chainId: ep.chainId,
          origin: ep.origin,
          state: ep.state,
          inFlight: ep.inFlight,
          queued: ep.queue.length,
          lastError: ep.lastError,
        }));
    },
    close() {
      closed = true;
      for (const ep of endpoints.values()) for (const w of ep.queue.splice(0)) w.reject();
    },
  };
}
