import { TypedDataEncoder } from 'ethers';
import {
  bytesToHex,
  createChallenge,
  DEFAULT_AUTH_DOMAIN,
  hashTypedData,
  type LoginTypedData,
  loginDigest,
  loginTypedData,
  privateKeySigner,
  recoverAddress,
  verifyLogin,
} from '../src/index.js';
import { domainSeparatorCacheSize } from '../src/typed-data.js';
import {
  type AnyTypedData,
  BAD_CHAIN_IDS,
  baseTyped,
  DOMAIN_NAMES,
  ethersSign,
  FIELDS,
  INVALID_ARGUMENT,
  KEY,
  PROMPTS,
  randomKeys,
  viemHash,
  viemSign,
  WRONG_DOMAIN_VARIANTS,
  withoutDomainType,
} from './fixtures.js';

function ethersHash(typed: AnyTypedData | LoginTypedData): string {
  return TypedDataEncoder.hash(
    typed.domain,
    withoutDomainType(typed.types as AnyTypedData['types']),
    typed.message,
  ).slice(2);
}

const asLogin = (typed: AnyTypedData) => typed as unknown as LoginTypedData;

describe('loginTypedData (PROTOCOL.md 4.2 step 3)', () => {
  it('builds exactly the protocol shape, domain fields in canonical order', () => {
    const typed = loginTypedData(FIELDS);
    expect(typed).toEqual(baseTyped());
    expect(typed.message).toEqual({ Message: 'Hi', Challenge: 'ffffffffffffffffffffffffffffffff' });
    expect(Object.keys(typed.domain)).toEqual(['name', 'version', 'chainId']);
    expect(Object.keys(typed.message)).toEqual(['Message', 'Challenge']);
    expect(typed.domain.name).toBe(DEFAULT_AUTH_DOMAIN);
  });

  it('uses a configured domain name and copies only the two fields', () => {
    const fields = { ...FIELDS, Extra: 'dropped' };
    const typed = loginTypedData(fields, { domainName: 'My Game Authentication' });
    expect(typed.domain.name).toBe('My Game Authentication');
    expect(typed.message).toEqual(FIELDS);
    expect(typed.message).not.toBe(fields);
  });

  it('serialises to the JSON a wallet receives for eth_signTypedData_v4', () => {
    expect(JSON.stringify(loginTypedData(FIELDS))).toBe(
      '{"domain":{"name":"Degas Authentication","version":"1","chainId":1},"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"}],"Login":[{"name":"Message","type":"string"},{"name":"Challenge","type":"string"}]},"primaryType":"Login","message":{"Message":"Hi","Challenge":"ffffffffffffffffffffffffffffffff"}}',
    );
  });

  it('validates its input', () => {
    expect(() => loginTypedData(null as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginTypedData({ Message: 1, Challenge: 'ab' } as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginTypedData({ Message: 'Hi' } as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginTypedData({ Message: '\uDC00', Challenge: FIELDS.Challenge })).toThrow(INVALID_ARGUMENT);
    expect(() => loginTypedData(FIELDS, { domainName: '' })).toThrow(INVALID_ARGUMENT);
    expect(() => loginTypedData(FIELDS, { domainName: 7 as unknown as string })).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest(FIELDS, { domainName: '' })).toThrow(INVALID_ARGUMENT);
  });
});

describe('loginDigest: fixed vectors', () => {
  it.each([
    [
      { Message: 'Hi', Challenge: 'ffffffffffffffffffffffffffffffff' },
      undefined,
      'c2a5d27f1db40219a91d7af6501486e796f4893fa075df8be1b57457ff311770',
    ],
    [
      {
        Message: 'Log in to game.example.com\nSigning is free. "Quoted" — 署名 🎮',
        Challenge: '00112233445566778899aabbccddeeff',
      },
      'My Game Authentication',
      'c720f19ded7b13ec6e9e07f5f60c50ad4276fb1593f4744cbc762d6827d9f948',
    ],
    [
      {
        Message:
          'Sign this message to log in to Degas. Signing is free: it does not send a transaction and does not grant permission to spend any of your funds or tokens.',
        Challenge: '0123456789abcdef0123456789abcdef',
      },
      undefined,
      '990cbb015e06bcd7af8c2e1effb1eebdbb12083c826be23011bdfeb513c11937',
    ],
  ])('vector %#', (fields, domainName, expected) => {
    const options = domainName === undefined ? undefined : { domainName };
    expect(bytesToHex(loginDigest(fields, options))).toBe(expected);
    expect(bytesToHex(hashTypedData(loginTypedData(fields, options)))).toBe(expected);
  });
});

describe('loginDigest caches (type hashes, domain separator per name, last prompt)', () => {
  it('gives the uncached answer across more names than the cache holds, interleaved prompts, twice over', () => {
    const names = Array.from({ length: 40 }, (_, i) => `Domain ${i} ${'x'.repeat(i * 7)}`);
    const prompts = ['Hi', 'Sign in to example.com', '署名 🎮'];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < names.length; i++) {
        const fields = { Message: prompts[i % prompts.length]!, Challenge: createChallenge().challenge };
        const options = { domainName: names[(i * 7) % names.length]! };
        expect(bytesToHex(loginDigest(fields, options))).toBe(
          bytesToHex(hashTypedData(loginTypedData(fields, options))),
        );
      }
    }
  });

  it('returns a fresh array each call (callers may mutate it)', () => {
    const a = loginDigest(FIELDS);
    const expected = bytesToHex(a);
    a.fill(0);
    expect(bytesToHex(loginDigest(FIELDS))).toBe(expected);
  });

  it('validates exactly like loginTypedData', () => {
    expect(() => loginDigest(null as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest([] as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest({ Message: 1, Challenge: 'ab' } as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest({ Message: 'Hi' } as unknown as typeof FIELDS)).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest({ Message: '\uDC00', Challenge: FIELDS.Challenge })).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest(FIELDS, { domainName: 7 as unknown as string })).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest(FIELDS, { domainName: '\uD800' })).toThrow(INVALID_ARGUMENT);
  });
});

describe('loginDigest equals ethers TypedDataEncoder.hash and viem hashTypedData', () => {
  const cases = PROMPTS.flatMap((Message) =>
    DOMAIN_NAMES.map((domainName) => [Message.slice(0, 40), domainName, Message] as const),
  );
  it.each(cases)('prompt %j, domain %j', (_, domainName, Message) => {
    const fields = { Message, Challenge: createChallenge().challenge };
    const typed = loginTypedData(fields, { domainName });
    const ours = bytesToHex(loginDigest(fields, { domainName }));
    expect(ours).toBe(ethersHash(typed));
    expect(ours).toBe(viemHash(typed));
    expect(bytesToHex(hashTypedData(typed))).toBe(ours);
  });
});

describe('signatures equal ethers and viem for 50 random keys', () => {
  it.each(randomKeys(50).map((key, i) => [key, i] as const))('key %s', async (key, i) => {
    const Message = PROMPTS[i % PROMPTS.length]!;
    const domainName = DOMAIN_NAMES[i % DOMAIN_NAMES.length]!;
    const { fields } = createChallenge(Message === '' ? {} : { message: Message });
    const typed = loginTypedData(fields, { domainName });
    const signer = privateKeySigner(key);
    const ours = await signer.signTypedData(typed);
    const byEthers = await ethersSign(key, typed);
    const byViem = await viemSign(key, typed);
    expect(bytesToHex(ours)).toBe(bytesToHex(byEthers));
    expect(bytesToHex(ours)).toBe(bytesToHex(byViem));
    expect(ours[64] === 27 || ours[64] === 28).toBe(true);
    expect(recoverAddress(loginDigest(fields, { domainName }), ours)).toBe(signer.address.toLowerCase());
    expect(verifyLogin({ fields, signature: ours, address: signer.address, domainName })).toBe(true);
    expect(verifyLogin({ fields, signature: ours, address: signer.address })).toBe(domainName === DEFAULT_AUTH_DOMAIN);
  });
});

describe('hashTypedData hashes exactly what it is given (hostile variants, CATALOGUE #59)', () => {
  const variants = WRONG_DOMAIN_VARIANTS.map((v) => [v.name, v.make, v.ethersCanSign] as const);

  it.each(variants)('%s: same hash as viem (and ethers), different from the Login digest', (_, make, ethersToo) => {
    const typed = make();
    const ours = bytesToHex(hashTypedData(asLogin(typed)));
    expect(ours).toBe(viemHash(typed));
    if (ethersToo) expect(ours).toBe(ethersHash(typed));
    expect(ours).not.toBe(bytesToHex(loginDigest(FIELDS)));
  });

  it('derives EIP712Domain in canonical order when types omit it, like ethers and viem', () => {
    const t = baseTyped();
    const derived = { ...t, types: { Login: t.types.Login! } };
    expect(bytesToHex(hashTypedData(asLogin(derived)))).toBe(bytesToHex(loginDigest(FIELDS)));
    const withContract = {
      domain: {
        salt: `0x${'11'.repeat(32)}`,
        verifyingContract: '0x000000000000000000000000000000000000dEaD',
        chainId: '0x89',
        name: 'X',
      },
      types: { Login: t.types.Login! },
      primaryType: 'Login',
      message: { ...FIELDS },
    };
    expect(bytesToHex(hashTypedData(asLogin(withContract)))).toBe(
      ethersHash({ ...withContract, domain: { ...withContract.domain, chainId: 137 } }),
    );
  });

  it('supports the other atomic types the same way ethers does', () => {
    const typed: AnyTypedData = {
      domain: { name: 'T', version: '1', chainId: 1n },
      types: {
        Thing: [
          { name: 'flag', type: 'bool' },
          { name: 'who', type: 'address' },
          { name: 'blob', type: 'bytes' },
          { name: 'id', type: 'bytes16' },
          { name: 'count', type: 'uint64' },
          { name: 'big', type: 'uint256' },
        ],
      },
      primaryType: 'Thing',
      message: {
        flag: true,
        who: '0x2c7536E3605D9C16a7a3D7b1898e529396a65c23',
        blob: '0xdeadbeef',
        id: `0x${'ab'.repeat(16)}`,
        count: '18446744073709551615',
        big: 2n ** 255n,
      },
    };
    expect(bytesToHex(hashTypedData(asLogin(typed)))).toBe(ethersHash(typed));
    expect(
      bytesToHex(
        hashTypedData(asLogin({ ...typed, message: { ...typed.message, flag: false, blob: new Uint8Array([1]) } })),
      ),
    ).toBe(ethersHash({ ...typed, message: { ...typed.message, flag: false, blob: '0x01' } }));
  });

  it('signs hostile variants with privateKeySigner exactly like ethers', async () => {
    const signer = privateKeySigner(KEY);
    for (const [, make, ethersToo] of variants) {
      const typed = make();
      const ours = await signer.signTypedData(asLogin(typed));
      expect(bytesToHex(ours)).toBe(bytesToHex(await viemSign(KEY, typed)));
      if (ethersToo) expect(bytesToHex(ours)).toBe(bytesToHex(await ethersSign(KEY, typed)));
    }
  });
});

describe('hashTypedData rejects malformed typed data with INVALID_ARGUMENT', () => {
  const t = () => baseTyped();
  it.each<[string, () => unknown]>([
    ['null', () => null],
    ['a string', () => JSON.stringify(t())],
    ['no domain', () => ({ ...t(), domain: undefined })],
    ['no types', () => ({ ...t(), types: undefined })],
    ['no message', () => ({ ...t(), message: undefined })],
    ['primaryType EIP712Domain', () => ({ ...t(), primaryType: 'EIP712Domain' })],
    ['primaryType not in types', () => ({ ...t(), primaryType: 'Logout' })],
    ['a numeric primaryType', () => ({ ...t(), primaryType: 1 })],
    ['an unused extra type', () => ({ ...t(), types: { ...t().types, Other: [] } })],
    ['a message key the type does not list', () => ({ ...t(), message: { ...FIELDS, Nonce: '1' } })],
    ['a missing message key', () => ({ ...t(), message: { Message: 'Hi' } })],
    [
      'a domain key the type does not list',
      () => ({ ...t(), domain: { ...t().domain, salt: `0x${'00'.repeat(32)}` } }),
    ],
    [
      'an unknown domain key without a domain type',
      () => ({ ...t(), types: { Login: t().types.Login }, domain: { foo: 'x' } }),
    ],
    ['a non-string Message', () => ({ ...t(), message: { ...FIELDS, Message: 5 } })],
    ['a lone surrogate', () => ({ ...t(), message: { ...FIELDS, Message: '\uD83C' } })],
    ['a negative chainId', () => ({ ...t(), domain: { ...t().domain, chainId: -1 } })],
    ['a fractional chainId', () => ({ ...t(), domain: { ...t().domain, chainId: 1.5 } })],
    ['a chainId of 2^256', () => ({ ...t(), domain: { ...t().domain, chainId: 2n ** 256n } })],
    ['a chainId string with spaces', () => ({ ...t(), domain: { ...t().domain, chainId: ' 1' } })],
    [
      'an array field type',
      () => ({ ...t(), types: { ...t().types, Login: [{ name: 'Message', type: 'string[]' }] } }),
    ],
    ['a struct field type', () => ({ ...t(), types: { ...t().types, Login: [{ name: 'Message', type: 'Login' }] } })],
    [
      'a repeated field name',
      () => ({
        ...t(),
        types: {
          ...t().types,
          Login: [
            { name: 'Message', type: 'string' },
            { name: 'Message', type: 'string' },
          ],
        },
      }),
    ],
    ['a malformed field', () => ({ ...t(), types: { ...t().types, Login: [{ name: 'Message' }] } })],
    ['fields not an array', () => ({ ...t(), types: { ...t().types, Login: { Message: 'string' } } })],
    [
      'an invalid field name',
      () => ({ ...t(), types: { ...t().types, Login: [{ name: 'Mess age', type: 'string' }] } }),
    ],
  ])('%s', (_, make) => {
    expect(() => hashTypedData(make() as LoginTypedData)).toThrow(INVALID_ARGUMENT);
  });
});

/** Chain ids of real networks (Base, Optimism, Polygon, Arbitrum One, Sepolia) and the bounds. */
const CHAIN_IDS = [1, 8453, 10, 137, 42161, 11155111, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER] as const;

describe('chain id (PROTOCOL.md 4.2 step 3: the client signs with its wallet’s chain)', () => {
  it('puts the chain id in the domain, 1 by default, as a JSON number', () => {
    expect(loginTypedData(FIELDS).domain.chainId).toBe(1);
    expect(loginTypedData(FIELDS, { chainId: 8453 }).domain.chainId).toBe(8453);
    expect(loginTypedData(FIELDS, { chainId: 8453n }).domain.chainId).toBe(8453);
    expect(JSON.stringify(loginTypedData(FIELDS, { chainId: 8453 }).domain)).toBe(
      '{"name":"Degas Authentication","version":"1","chainId":8453}',
    );
  });

  it.each(BAD_CHAIN_IDS)('rejects a chain id of %s', (_, chainId) => {
    expect(() => loginTypedData(FIELDS, { chainId: chainId as number })).toThrow(INVALID_ARGUMENT);
    expect(() => loginDigest(FIELDS, { chainId: chainId as number })).toThrow(INVALID_ARGUMENT);
  });

  it.each(CHAIN_IDS.map((c) => [c]))('chain %i: digest equals ethers and viem, and hashTypedData', (chainId) => {
    for (const domainName of DOMAIN_NAMES) {
      const fields = { Message: PROMPTS[chainId % PROMPTS.length]!, Challenge: createChallenge().challenge };
      const typed = loginTypedData(fields, { domainName, chainId });
      const ours = bytesToHex(loginDigest(fields, { domainName, chainId }));
      expect(ours).toBe(ethersHash(typed));
      expect(ours).toBe(viemHash(typed));
      expect(bytesToHex(hashTypedData(typed))).toBe(ours);
      if (chainId !== 1) expect(ours).not.toBe(bytesToHex(loginDigest(fields, { domainName })));
    }
  });

  it.each(CHAIN_IDS.filter((c) => c !== 1).map((c) => [c]))(
    'chain %i: signatures equal ethers and viem and verify only with that chain id',
    async (chainId) => {
      const [key] = randomKeys(1);
      const { fields } = createChallenge();
      const typed = loginTypedData(fields, { chainId });
      const signer = privateKeySigner(key!, { chainId });
      const ours = await signer.signTypedData(typed);
      expect(bytesToHex(ours)).toBe(bytesToHex(await ethersSign(key!, typed)));
      expect(bytesToHex(ours)).toBe(bytesToHex(await viemSign(key!, typed)));
      const address = signer.address;
      expect(verifyLogin({ fields, signature: ours, address, chainId })).toBe(true);
      expect(verifyLogin({ fields, signature: ours, address, chainId: BigInt(chainId) })).toBe(true);
      expect(verifyLogin({ fields, signature: ours, address })).toBe(false);
      expect(verifyLogin({ fields, signature: ours, address, chainId: chainId - 1 || 2 })).toBe(false);
    },
  );

  it('treats chain id 0 (absent on the wire) as 1 in verifyLogin', async () => {
    const signer = privateKeySigner(KEY);
    const { fields } = createChallenge();
    const signature = await signer.signTypedData(loginTypedData(fields));
    expect(verifyLogin({ fields, signature, address: signer.address, chainId: 0 })).toBe(true);
    expect(verifyLogin({ fields, signature, address: signer.address, chainId: 0n })).toBe(true);
    expect(verifyLogin({ fields, signature, address: signer.address, chainId: -1 })).toBe(false);
  });

  it('keeps the domain-separator cache bounded while clients cycle through chain ids and names', () => {
    const fields = { Message: 'Hi', Challenge: createChallenge().challenge };
    for (let i = 0; i < 300; i++) {
      const options = { domainName: `Domain ${i % 5}`, chainId: 1 + ((i * 7919) % 1000) };
      expect(bytesToHex(loginDigest(fields, options))).toBe(bytesToHex(hashTypedData(loginTypedData(fields, options))));
      expect(domainSeparatorCacheSize()).toBeLessThanOrEqual(64);
    }
    expect(domainSeparatorCacheSize()).toBeGreaterThan(0);
  });
});
