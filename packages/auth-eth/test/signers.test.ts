import { type TypedDataDomain, type TypedDataField, Wallet } from 'ethers';
import { privateKeyToAccount } from 'viem/accounts';
import {
  AuthEthError,
  bytesToHex,
  createChallenge,
  type EthSigner,
  eip1193Signer,
  generatePrivateKey,
  hexToBytes,
  type LoginTypedData,
  loginTypedData,
  parseSignature,
  privateKeySigner,
  privateKeyToAddress,
  toSigner,
  typedDataSigner,
  verifyLogin,
} from '../src/index.js';
import {
  BAD_CHAIN_IDS,
  codeOf,
  ethersSign,
  hex,
  INVALID_ARGUMENT,
  KEY,
  KEY_ADDRESS,
  N,
  randomKeys,
  withoutDomainType,
} from './fixtures.js';

async function rejection(promise: Promise<unknown>): Promise<AuthEthError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AuthEthError) return err;
    throw new Error(`expected an AuthEthError, got ${String(err)}`);
  }
  throw new Error('expected a rejection');
}

const OTHER_KEY = '0x0123456789012345678901234567890123456789012345678901234567890123';
const typedFor = (domainName?: string) => {
  const { fields } = createChallenge();
  return { fields, typed: loginTypedData(fields, domainName === undefined ? undefined : { domainName }) };
};

describe('privateKeySigner', () => {
  it('has the checksummed address and signs like ethers, from hex with or without 0x and from bytes', async () => {
    const { fields, typed } = typedFor();
    const expected = bytesToHex(await ethersSign(KEY, typed));
    for (const key of [KEY, KEY.slice(2), KEY.toUpperCase().replace('0X', '0x'), hexToBytes(KEY)]) {
      const signer = privateKeySigner(key);
      expect(signer.address).toBe(KEY_ADDRESS);
      const sig = await signer.signTypedData(typed);
      expect(sig).toBeInstanceOf(Uint8Array);
      expect(bytesToHex(sig)).toBe(expected);
      expect(verifyLogin({ fields, signature: sig, address: signer.address })).toBe(true);
    }
  });

  it('is deterministic (RFC 6979), low-s and uses v = 27/28', async () => {
    const signer = privateKeySigner(KEY);
    const { typed } = typedFor();
    const a = await signer.signTypedData(typed);
    const b = await signer.signTypedData(typed);
    expect(bytesToHex(a)).toBe(bytesToHex(b));
    for (let i = 0; i < 30; i++) {
      const sig = await signer.signTypedData(typedFor().typed);
      expect([27, 28]).toContain(sig[64]);
      expect(parseSignature(sig).s <= N >> 1n).toBe(true);
    }
  });

  it('copies the key: later changes to the caller’s bytes do not matter', async () => {
    const key = hexToBytes(KEY);
    const signer = privateKeySigner(key);
    key.fill(7);
    const { typed } = typedFor();
    expect(bytesToHex(await signer.signTypedData(typed))).toBe(bytesToHex(await ethersSign(KEY, typed)));
  });

  it('exposes only address and signTypedData, and is frozen', () => {
    const signer = privateKeySigner(KEY);
    expect(Object.keys(signer).sort()).toEqual(['address', 'getChainId', 'signTypedData']);
    expect(Object.isFrozen(signer)).toBe(true);
    expect(JSON.stringify(signer)).not.toContain(KEY.slice(2));
  });

  it.each<[string, unknown]>([
    ['zero', `0x${'00'.repeat(32)}`],
    ['n', `0x${N.toString(16)}`],
    ['n + 1', `0x${(N + 1n).toString(16)}`],
    ['all ones', `0x${'ff'.repeat(32)}`],
    ['63 digits', KEY.slice(0, 65)],
    ['65 digits', `${KEY}0`],
    ['non-hex', `0x${'zz'.repeat(32)}`],
    ['spaces', ` ${KEY}`],
    ['31 bytes', new Uint8Array(31).fill(1)],
    ['33 bytes', new Uint8Array(33).fill(1)],
    ['32 zero bytes', new Uint8Array(32)],
    ['a number', 1],
    ['null', null],
  ])('rejects %s as INVALID_PRIVATE_KEY without echoing it', (_, key) => {
    try {
      privateKeySigner(key as string);
      throw new Error('did not throw');
    } catch (err) {
      expect(err).toBeInstanceOf(AuthEthError);
      expect((err as AuthEthError).code).toBe('INVALID_PRIVATE_KEY');
      if (typeof key === 'string' && key.length > 10) expect((err as Error).message).not.toContain(key.slice(4, 20));
    }
    expect(codeOf(() => privateKeyToAddress(key as string))).toBe('INVALID_PRIVATE_KEY');
  });

  it('rejects malformed typed data with INVALID_ARGUMENT', async () => {
    const signer = privateKeySigner(KEY);
    await expect(signer.signTypedData({} as LoginTypedData)).rejects.toThrow(INVALID_ARGUMENT);
  });
});

describe('generatePrivateKey / privateKeyToAddress', () => {
  it('makes distinct valid 32-byte keys', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const key = generatePrivateKey();
      expect(key).toBeInstanceOf(Uint8Array);
      expect(key.length).toBe(32);
      expect(privateKeyToAddress(key)).toBe(new Wallet(hex(key)).address);
      seen.add(bytesToHex(key));
    }
    expect(seen.size).toBe(100);
  });

  it.each(randomKeys(10))('matches ethers for %s', (key) => {
    expect(privateKeyToAddress(key)).toBe(new Wallet(key).address);
    expect(privateKeyToAddress(hexToBytes(key))).toBe(new Wallet(key).address);
  });
});

/** An in-memory EIP-1193 wallet that signs with an ethers Wallet, like a browser extension. */
function walletProvider(
  key: string,
  options: { tamper?: (sig: string) => unknown; chainId?: number } = {},
): { request(args: { method: string; params?: unknown[] | object }): Promise<unknown>; calls: unknown[] } {
  const wallet = new Wallet(key);
  const calls: unknown[] = [];
  const activeChain = options.chainId ?? 1;
  return {
    calls,
    async request({ method, params }) {
      calls.push({ method, params });
      if (method === 'eth_chainId') return `0x${activeChain.toString(16)}`;
      if (method !== 'eth_signTypedData_v4') throw Object.assign(new Error('unsupported'), { code: 4200 });
      const [from, json] = params as [string, string];
      if (from.toLowerCase() !== wallet.address.toLowerCase()) throw new Error('unknown account');
      const data = JSON.parse(json) as {
        domain: TypedDataDomain;
        types: Record<string, TypedDataField[]>;
        message: Record<string, unknown>;
      };
      // As MetaMask does: typed data for another chain than the active one is refused.
      if (Number(data.domain.chainId) !== activeChain) {
        throw Object.assign(
          new Error(`Provided chainId "${String(data.domain.chainId)}" must match the active chainId "${activeChain}"`),
          { code: -32602 },
        );
      }
      const sig = await wallet.signTypedData(data.domain, withoutDomainType(data.types), data.message);
      return options.tamper ? options.tamper(sig) : sig;
    },
  };
}

describe('eip1193Signer', () => {
  it('calls eth_signTypedData_v4 with [address, JSON] and returns the 65 bytes', async () => {
    const provider = walletProvider(KEY);
    const address = KEY_ADDRESS.toLowerCase();
    const signer = eip1193Signer(provider, address);
    expect(signer.address).toBe(KEY_ADDRESS);
    const { fields, typed } = typedFor('My Game Authentication');
    const sig = await signer.signTypedData(typed);
    expect(provider.calls).toEqual([{ method: 'eth_signTypedData_v4', params: [address, JSON.stringify(typed)] }]);
    expect(sig.length).toBe(65);
    expect(bytesToHex(sig)).toBe(bytesToHex(await ethersSign(KEY, typed)));
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS, domainName: 'My Game Authentication' })).toBe(
      true,
    );
  });

  it('accepts a wallet answer with v = 0/1 or as bytes', async () => {
    const { fields, typed } = typedFor();
    const v01 = eip1193Signer(
      walletProvider(KEY, { tamper: (s) => `${s.slice(0, 130)}0${Number.parseInt(s.slice(130), 16) - 27}` }),
      KEY_ADDRESS,
    );
    const sig = await v01.signTypedData(typed);
    expect([0, 1]).toContain(sig[64]);
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS })).toBe(true);
    const bytes = eip1193Signer(walletProvider(KEY, { tamper: (s) => hexToBytes(s) }), KEY_ADDRESS);
    expect(verifyLogin({ fields, signature: await bytes.signTypedData(typed), address: KEY_ADDRESS })).toBe(true);
  });

  it('wraps a provider error in SIGNER_ERROR with the cause', async () => {
    const cause = new Error('boom');
    const signer = eip1193Signer({ request: async () => Promise.reject(cause) }, KEY_ADDRESS);
    const err = await rejection(signer.signTypedData(typedFor().typed));
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.cause).toBe(cause);
    expect(err.message).toContain('boom');
  });

  it('wraps a synchronous throw and a plain-object EIP-1193 rejection (user refused)', async () => {
    const sync = eip1193Signer(
      {
        request: () => {
          throw new Error('sync');
        },
      },
      KEY_ADDRESS,
    );
    expect((await rejection(sync.signTypedData(typedFor().typed))).code).toBe('SIGNER_ERROR');
    const refusal = { code: 4001, message: 'User rejected the request.' };
    const refused = eip1193Signer({ request: () => Promise.reject(refusal) }, KEY_ADDRESS);
    const err = await rejection(refused.signTypedData(typedFor().typed));
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.cause).toBe(refusal);
    expect(err.message).toContain('4001');
    expect(err).toBeInstanceOf(Error);
  });

  it.each<[string, (s: string) => unknown]>([
    ['v = 35', (s) => `${s.slice(0, 130)}23`],
    [
      'a high-s twin',
      (s) => {
        const r = s.slice(2, 66);
        const sv = BigInt(`0x${s.slice(66, 130)}`);
        const v = Number.parseInt(s.slice(130), 16) === 27 ? '1c' : '1b';
        return `0x${r}${(N - sv).toString(16).padStart(64, '0')}${v}`;
      },
    ],
    ['non-hex text', () => 'not a signature'],
    ['a number', () => 42],
    ['null', () => null],
    ['empty', () => '0x'],
    ['8193 bytes (over the contract-wallet bound)', () => `0x${'ab'.repeat(8193)}`],
  ])('rejects a wallet answer that is %s with SIGNER_ERROR', async (_, tamper) => {
    const signer = eip1193Signer(walletProvider(KEY, { tamper }), KEY_ADDRESS);
    expect((await rejection(signer.signTypedData(typedFor().typed))).code).toBe('SIGNER_ERROR');
  });

  it('rejects a signature made by another account with SIGNER_ERROR', async () => {
    const other = walletProvider(OTHER_KEY);
    const lying = {
      request: (args: { method: string; params?: unknown[] | object }) => {
        const [, json] = args.params as [string, string];
        return other.request({ method: args.method, params: [new Wallet(OTHER_KEY).address, json] });
      },
    };
    const signer = eip1193Signer(lying, KEY_ADDRESS);
    const err = await rejection(signer.signTypedData(typedFor().typed));
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.message).toContain(new Wallet(OTHER_KEY).address);
  });

  it('validates its arguments', () => {
    const provider = walletProvider(KEY);
    expect(codeOf(() => eip1193Signer(provider, 'nope'))).toBe('INVALID_ADDRESS');
    expect(codeOf(() => eip1193Signer(provider, KEY_ADDRESS.replace('E', 'e')))).toBe('INVALID_CHECKSUM');
    expect(() => eip1193Signer({} as never, KEY_ADDRESS)).toThrow(INVALID_ARGUMENT);
    expect(() => eip1193Signer(null as never, KEY_ADDRESS)).toThrow(INVALID_ARGUMENT);
  });

  it('does not open the wallet for malformed typed data', async () => {
    const provider = walletProvider(KEY);
    const signer = eip1193Signer(provider, KEY_ADDRESS);
    await expect(signer.signTypedData({ domain: {} } as LoginTypedData)).rejects.toThrow(INVALID_ARGUMENT);
    expect(provider.calls).toEqual([]);
  });
});

describe('typedDataSigner', () => {
  it('adapts a viem account', async () => {
    const account = privateKeyToAccount(KEY);
    const signer = typedDataSigner(account);
    expect(signer.address).toBe(KEY_ADDRESS);
    const { fields, typed } = typedFor('My Game Authentication');
    const sig = await signer.signTypedData(typed);
    expect(bytesToHex(sig)).toBe(bytesToHex(await ethersSign(KEY, typed)));
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS, domainName: 'My Game Authentication' })).toBe(
      true,
    );
  });

  it('adapts an ethers Wallet (three-argument signTypedData)', async () => {
    const wallet = new Wallet(KEY);
    const signer = typedDataSigner(wallet);
    expect(signer.address).toBe(KEY_ADDRESS);
    const { fields, typed } = typedFor();
    const sig = await signer.signTypedData(typed);
    expect(bytesToHex(sig)).toBe(bytesToHex(await privateKeySigner(KEY).signTypedData(typed)));
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS })).toBe(true);
  });

  it('detects ethers by getAddress + provider when the function arity is hidden', async () => {
    const wallet = new Wallet(KEY);
    const wrapped = {
      address: wallet.address,
      provider: null,
      getAddress: () => wallet.getAddress(),
      signTypedData: (...args: unknown[]) => wallet.signTypedData(...(args as Parameters<Wallet['signTypedData']>)),
    };
    expect(wrapped.signTypedData.length).toBe(0);
    const { fields, typed } = typedFor();
    const sig = await typedDataSigner(wrapped).signTypedData(typed);
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS })).toBe(true);
  });

  it('supports the ethers v5 _signTypedData name', async () => {
    const wallet = new Wallet(KEY);
    const v5 = {
      address: wallet.address,
      _signTypedData: (d: TypedDataDomain, t: Record<string, TypedDataField[]>, v: Record<string, unknown>) =>
        wallet.signTypedData(d, t, v),
    };
    const { fields, typed } = typedFor();
    const sig = await typedDataSigner(v5 as never).signTypedData(typed);
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS })).toBe(true);
  });

  it('accepts bytes from the account, and wraps failures in SIGNER_ERROR', async () => {
    const inner = privateKeySigner(KEY);
    const bytesAccount = { address: KEY_ADDRESS, signTypedData: (t: LoginTypedData) => inner.signTypedData(t) };
    const { fields, typed } = typedFor();
    expect(
      verifyLogin({
        fields,
        signature: await typedDataSigner(bytesAccount).signTypedData(typed),
        address: KEY_ADDRESS,
      }),
    ).toBe(true);

    const cause = new Error('hardware wallet unplugged');
    const failing = { address: KEY_ADDRESS, signTypedData: async (_: unknown) => Promise.reject(cause) };
    const err = await rejection(typedDataSigner(failing).signTypedData(typed));
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.cause).toBe(cause);

    const wrongKey = {
      address: KEY_ADDRESS,
      signTypedData: (t: LoginTypedData) => privateKeySigner(OTHER_KEY).signTypedData(t),
    };
    expect((await rejection(typedDataSigner(wrongKey).signTypedData(typed))).code).toBe('SIGNER_ERROR');

    const empty = { address: KEY_ADDRESS, signTypedData: async (_: unknown) => '0x' };
    expect((await rejection(typedDataSigner(empty).signTypedData(typed))).code).toBe('SIGNER_ERROR');
  });

  it('validates the account', () => {
    expect(codeOf(() => typedDataSigner({ address: 'bad', signTypedData: async () => '0x' }))).toBe('INVALID_ADDRESS');
    expect(() => typedDataSigner({ address: KEY_ADDRESS } as never)).toThrow(INVALID_ARGUMENT);
    expect(() => typedDataSigner(null as never)).toThrow(INVALID_ARGUMENT);
  });
});

describe('toSigner', () => {
  it('turns private keys into privateKeySigners', async () => {
    const { typed } = typedFor();
    const expected = bytesToHex(await ethersSign(KEY, typed));
    for (const key of [KEY, hexToBytes(KEY)]) {
      const signer = toSigner(key);
      expect(signer.address).toBe(KEY_ADDRESS);
      expect(bytesToHex(await signer.signTypedData(typed))).toBe(expected);
    }
  });

  it('returns this package’s signers unchanged', () => {
    const signer = privateKeySigner(KEY);
    expect(toSigner(signer)).toBe(signer);
    const wrapped = eip1193Signer(walletProvider(KEY), KEY_ADDRESS);
    expect(toSigner(wrapped)).toBe(wrapped);
  });

  it('adapts viem accounts, ethers wallets and hand-written EthSigners', async () => {
    const inner = privateKeySigner(KEY);
    const custom: EthSigner = {
      address: KEY_ADDRESS,
      getChainId: () => Promise.resolve(1),
      signTypedData: (t) => inner.signTypedData(t),
    };
    const { fields, typed } = typedFor();
    for (const s of [privateKeyToAccount(KEY), new Wallet(KEY), custom]) {
      const signer = toSigner(s);
      expect(signer.address).toBe(KEY_ADDRESS);
      expect(verifyLogin({ fields, signature: await signer.signTypedData(typed), address: KEY_ADDRESS })).toBe(true);
    }
  });

  it('rejects anything else', () => {
    expect(() => toSigner(42 as never)).toThrow(INVALID_ARGUMENT);
    expect(() => toSigner(null as never)).toThrow(INVALID_ARGUMENT);
    expect(() => toSigner({} as never)).toThrow(INVALID_ARGUMENT);
    expect(codeOf(() => toSigner('not a key'))).toBe('INVALID_PRIVATE_KEY');
  });
});

describe('chain id of each signer (the wallet’s own chain, PROTOCOL.md 4.2 step 3)', () => {
  it('raw keys and accounts sign with 1 unless told otherwise', async () => {
    expect(await privateKeySigner(KEY).getChainId()).toBe(1);
    expect(await typedDataSigner(privateKeyToAccount(KEY)).getChainId()).toBe(1);
    expect(await typedDataSigner(new Wallet(KEY)).getChainId()).toBe(1);
    expect(await toSigner(KEY).getChainId()).toBe(1);
  });

  it('takes a chain id as a number, a bigint or a function asked before each login', async () => {
    expect(await privateKeySigner(KEY, { chainId: 8453 }).getChainId()).toBe(8453);
    expect(await privateKeySigner(KEY, { chainId: 8453n }).getChainId()).toBe(8453);
    expect(await toSigner(KEY, { chainId: 10 }).getChainId()).toBe(10);
    expect(await toSigner(new Wallet(KEY), { chainId: 137 }).getChainId()).toBe(137);
    let current: number | bigint = 8453;
    const signer = typedDataSigner(privateKeyToAccount(KEY), { chainId: async () => current });
    expect(await signer.getChainId()).toBe(8453);
    current = 42161n;
    expect(await signer.getChainId()).toBe(42161);
  });

  it('uses an account’s own getChainId (ethers v5 signers, hand-written EthSigners) when not told', async () => {
    const inner = privateKeySigner(KEY);
    const custom = { address: KEY_ADDRESS, getChainId: async () => 8453, signTypedData: inner.signTypedData };
    expect(await toSigner(custom).getChainId()).toBe(8453);
    expect(await toSigner(custom, { chainId: 10 }).getChainId()).toBe(10);
  });

  it.each(BAD_CHAIN_IDS)('rejects a fixed chain id of %s at construction', (_, chainId) => {
    expect(() => privateKeySigner(KEY, { chainId: chainId as number })).toThrow(INVALID_ARGUMENT);
    expect(() => typedDataSigner(privateKeyToAccount(KEY), { chainId: chainId as number })).toThrow(INVALID_ARGUMENT);
  });

  it('wraps a failing or unusable chainId function in SIGNER_ERROR', async () => {
    const cause = new Error('no network');
    const failing = privateKeySigner(KEY, { chainId: () => Promise.reject(cause) });
    const err = await rejection(failing.getChainId());
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.cause).toBe(cause);
    expect((await rejection(privateKeySigner(KEY, { chainId: () => 0 }).getChainId())).code).toBe('SIGNER_ERROR');
  });

  it('an EIP-1193 wallet is asked for eth_chainId, and signs for its active chain 8453', async () => {
    const provider = walletProvider(KEY, { chainId: 8453 });
    const signer = eip1193Signer(provider, KEY_ADDRESS);
    const chainId = await signer.getChainId();
    expect(chainId).toBe(8453);
    const { fields } = createChallenge();
    const typed = loginTypedData(fields, { chainId });
    const sig = await signer.signTypedData(typed);
    expect(provider.calls).toEqual([
      { method: 'eth_chainId', params: undefined },
      { method: 'eth_signTypedData_v4', params: [KEY_ADDRESS, JSON.stringify(typed)] },
    ]);
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS, chainId: 8453 })).toBe(true);
    expect(verifyLogin({ fields, signature: sig, address: KEY_ADDRESS })).toBe(false);
    // The same wallet refuses mainnet typed data, as MetaMask does.
    const refused = await rejection(signer.signTypedData(loginTypedData(fields)));
    expect(refused.code).toBe('SIGNER_ERROR');
    expect(refused.message).toContain('must match the active chainId');
  });

  it.each<[string, unknown]>([
    ['a decimal string', '8453'],
    ['0x0', '0x0'],
    ['over 2^53', '0x20000000000000'],
    ['not hex', '0xzz'],
    ['null', null],
    ['an object', { chainId: 1 }],
  ])('rejects an eth_chainId answer that is %s with SIGNER_ERROR', async (_, answer) => {
    const signer = eip1193Signer({ request: async () => answer }, KEY_ADDRESS);
    expect((await rejection(signer.getChainId())).code).toBe('SIGNER_ERROR');
  });

  it('accepts a numeric eth_chainId answer and wraps a provider failure', async () => {
    expect(await eip1193Signer({ request: async () => 10 }, KEY_ADDRESS).getChainId()).toBe(10);
    const cause = { code: 4900, message: 'Disconnected' };
    const err = await rejection(eip1193Signer({ request: () => Promise.reject(cause) }, KEY_ADDRESS).getChainId());
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.cause).toBe(cause);
  });
});

describe('smart-contract wallet signatures pass through untouched', () => {
  it.each([1, 64, 66, 200, 8192])('a %i-byte answer from a wallet or an account', async (length) => {
    const blob = Uint8Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff);
    const { typed } = typedFor();
    const wallet = eip1193Signer({ request: async () => hex(blob) }, KEY_ADDRESS);
    expect(bytesToHex(await wallet.signTypedData(typed))).toBe(bytesToHex(blob));
    const account = typedDataSigner({ address: KEY_ADDRESS, signTypedData: async () => blob });
    const out = await account.signTypedData(typed);
    expect(bytesToHex(out)).toBe(bytesToHex(blob));
    expect(out).not.toBe(blob);
  });
});

describe('contractWallet: a smart wallet’s 65-byte answer (its owner’s signature) passes through', () => {
  it('sends a signature by another key as it is, only when told the address is a contract wallet', async () => {
    const { typed } = typedFor();
    const ownerSig = await privateKeySigner(OTHER_KEY).signTypedData(typed);
    const answer = async () => hex(ownerSig);
    const wallet = eip1193Signer({ request: answer }, KEY_ADDRESS, { contractWallet: true });
    expect(bytesToHex(await wallet.signTypedData(typed))).toBe(bytesToHex(ownerSig));
    const account = typedDataSigner({ address: KEY_ADDRESS, signTypedData: answer }, { contractWallet: true });
    expect(bytesToHex(await account.signTypedData(typed))).toBe(bytesToHex(ownerSig));
    // Without the option, the same answer is caught as another account's signature.
    expect((await rejection(eip1193Signer({ request: answer }, KEY_ADDRESS).signTypedData(typed))).code).toBe(
      'SIGNER_ERROR',
    );
    // The length bound still applies.
    const huge = eip1193Signer({ request: async () => `0x${'00'.repeat(8193)}` }, KEY_ADDRESS, {
      contractWallet: true,
    });
    expect((await rejection(huge.signTypedData(typed))).code).toBe('SIGNER_ERROR');
  });

  it('validates the option', () => {
    expect(() => eip1193Signer({ request: async () => '0x' }, KEY_ADDRESS, { contractWallet: 'yes' as never })).toThrow(
      INVALID_ARGUMENT,
    );
    expect(() => typedDataSigner(privateKeyToAccount(KEY), { contractWallet: 1 as never })).toThrow(INVALID_ARGUMENT);
  });
});
