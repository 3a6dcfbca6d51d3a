// Wrong argument types at every public entry point: each one throws (or rejects with) its own
// AuthEthError with a stable code, never a TypeError from deep inside noble or JSON.stringify.
import * as api from '../src/index.js';
import { AuthEthError, type LoginTypedData } from '../src/index.js';
import { BAD_CHAIN_IDS, FIELDS, KEY, KEY_ADDRESS } from './fixtures.js';

/** Claims to be a Uint8Array (`Symbol.toStringTag`) without being one; noble would fail on it. */
const spoof = (length: number) => ({ [Symbol.toStringTag]: 'Uint8Array', length, 0: 4 }) as unknown as Uint8Array;
/** Values that are never bytes, for any length. */
const NOT_BYTES: readonly [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  ['a bigint', 42n],
  ['an array of numbers', [1, 2, 3]],
  ['an ArrayBuffer', new ArrayBuffer(32)],
  ['a DataView', new DataView(new ArrayBuffer(32))],
  ['an object', {}],
];
/** Values that are never strings. */
const NOT_STRINGS: readonly [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a number', 42],
  ['a bigint', 42n],
  ['bytes', new Uint8Array(20)],
  ['an object', {}],
];
const bytesCases = (length: number): [string, unknown][] => [
  ...NOT_BYTES,
  ['a spoofed Uint8Array', spoof(length)],
  ['a hex string', `0x${'04'.repeat(length)}`],
  ['a Uint16Array', new Uint16Array(length)],
  ['too short', new Uint8Array(length - 1)],
  ['too long', new Uint8Array(length + 1)],
];

/** Key material of the wrong shape (a 64-digit hex string is a valid key, so it is not here). */
const notKeys = (): [string, unknown][] => [
  ...bytesCases(32).filter(([what]) => what !== 'a hex string'),
  ['short hex', '0x12'],
];
const typed = (): LoginTypedData => api.loginTypedData(FIELDS);
const wallet = (answer: unknown) => ({ request: async () => answer });
const account = () => {
  const inner = api.privateKeySigner(KEY);
  return { address: KEY_ADDRESS, signTypedData: (t: LoginTypedData) => inner.signTypedData(t) };
};
const BAD_TYPED: readonly [string, unknown][] = [
  ['null', null],
  ['undefined', undefined],
  ['a string', JSON.stringify(typed())],
  ['an empty object', {}],
  ['a bigint chainId the wallet cannot be sent', { ...typed(), domain: { ...typed().domain, chainId: 1n } }],
  ['a spoofed bytes32 field', { ...typed(), types: { ...typed().types, Login: [{ name: 'b', type: 'bytes32' }] } }],
];

type Call = (value: unknown) => unknown;
/** Entry point → [argument under test, call with it, expected code, bad values]. */
const TABLE: [string, string, Call, string, readonly [string, unknown][]][] = [
  ['parseAddress', 'address', (v) => api.parseAddress(v as string), 'INVALID_ADDRESS', NOT_STRINGS],
  ['normalizeAddress', 'address', (v) => api.normalizeAddress(v as string), 'INVALID_ADDRESS', NOT_STRINGS],
  [
    'toChecksumAddress',
    'address',
    (v) => api.toChecksumAddress(v as string),
    'INVALID_ADDRESS',
    bytesCases(20).filter(([what]) => what !== 'a hex string'),
  ],
  [
    'publicKeyToAddress',
    'publicKey',
    (v) => api.publicKeyToAddress(v as Uint8Array),
    'INVALID_ARGUMENT',
    bytesCases(65),
  ],
  [
    'bytesToHex',
    'bytes',
    (v) => api.bytesToHex(v as Uint8Array),
    'INVALID_ARGUMENT',
    [...NOT_BYTES, ['spoofed', spoof(2)]],
  ],
  ['hexToBytes', 'hex', (v) => api.hexToBytes(v as string), 'INVALID_ARGUMENT', NOT_STRINGS],
  [
    'createChallenge',
    'options',
    (v) => api.createChallenge(v as never),
    'INVALID_ARGUMENT',
    [
      ['null', null],
      ['a string', 'hello'],
      ['a number message', { message: 42 }],
      ['an empty message', { message: '' }],
      ['randomBytes not a function', { randomBytes: 'x' }],
      ['randomBytes giving spoofed bytes', { randomBytes: () => spoof(16) }],
      ['randomBytes giving hex', { randomBytes: () => '00'.repeat(16) }],
    ],
  ],
  ['parseChallenge', 'json', (v) => api.parseChallenge(v as string), 'INVALID_CHALLENGE', NOT_STRINGS],
  ['parseSignature', 'signature', (v) => api.parseSignature(v as Uint8Array), 'INVALID_SIGNATURE', bytesCases(65)],
  [
    'recoverAddress',
    'digest',
    (v) => api.recoverAddress(v as Uint8Array, new Uint8Array(65)),
    'INVALID_ARGUMENT',
    bytesCases(32),
  ],
  [
    'recoverAddress',
    'signature',
    (v) => api.recoverAddress(new Uint8Array(32), v as Uint8Array),
    'INVALID_SIGNATURE',
    bytesCases(65),
  ],
  [
    'checkChainId',
    'value',
    (v) => api.checkChainId(v),
    'INVALID_ARGUMENT',
    [...BAD_CHAIN_IDS, ['undefined', undefined], ['an object', {}]],
  ],
  // loginTypedData and loginDigest check their input alike.
  ...(['loginTypedData', 'loginDigest'] as const).flatMap((name): (typeof TABLE)[number][] => [
    [
      name,
      'fields',
      (v) => api[name](v as never),
      'INVALID_ARGUMENT',
      [...NOT_STRINGS, ['a number Message', { Message: 1, Challenge: FIELDS.Challenge }]],
    ],
    [
      name,
      'options',
      (v) => api[name](FIELDS, v as never),
      'INVALID_ARGUMENT',
      [
        ['null', null],
        ['a string', 'Degas Authentication'],
        ['a number domainName', { domainName: 5 }],
        ['a string chainId', { chainId: '1' }],
        ['a bigint chainId of 2^64', { chainId: 2n ** 64n }],
      ],
    ],
  ]),
  ['hashTypedData', 'typed', (v) => api.hashTypedData(v as never), 'INVALID_ARGUMENT', BAD_TYPED.slice(0, 4)],
  [
    'hashTypedData',
    'typed (field values)',
    (v) => api.hashTypedData(v as never),
    'INVALID_ARGUMENT',
    [BAD_TYPED[5]!, ['a number for a uint256', { ...typed(), domain: { ...typed().domain, chainId: 1.5 } }]],
  ],
  ['privateKeySigner', 'privateKey', (v) => api.privateKeySigner(v as string), 'INVALID_PRIVATE_KEY', notKeys()],
  [
    'privateKeySigner',
    'options',
    (v) => api.privateKeySigner(KEY, v as never),
    'INVALID_ARGUMENT',
    [
      ['null', null],
      ['a string', 'x'],
      ['a null chainId', { chainId: null }],
      ['a string chainId', { chainId: '1' }],
    ],
  ],
  ['privateKeyToAddress', 'privateKey', (v) => api.privateKeyToAddress(v as string), 'INVALID_PRIVATE_KEY', notKeys()],
  [
    'eip1193Signer',
    'provider',
    (v) => api.eip1193Signer(v as never, KEY_ADDRESS),
    'INVALID_ARGUMENT',
    [...NOT_STRINGS, ['request not a function', { request: 1 }]],
  ],
  ['eip1193Signer', 'address', (v) => api.eip1193Signer(wallet('0x'), v as string), 'INVALID_ADDRESS', NOT_STRINGS],
  [
    'eip1193Signer',
    'options',
    (v) => api.eip1193Signer(wallet('0x'), KEY_ADDRESS, v as never),
    'INVALID_ARGUMENT',
    [
      ['null', null],
      ['a string contractWallet', { contractWallet: 'yes' }],
    ],
  ],
  [
    'typedDataSigner',
    'account',
    (v) => api.typedDataSigner(v as never),
    'INVALID_ARGUMENT',
    [...NOT_STRINGS, ['no signTypedData', { address: KEY_ADDRESS }]],
  ],
  [
    'typedDataSigner',
    'account.address',
    (v) => api.typedDataSigner({ address: v, signTypedData: async () => '0x' } as never),
    'INVALID_ADDRESS',
    NOT_STRINGS,
  ],
  [
    'toSigner',
    's',
    (v) => api.toSigner(v as never),
    'INVALID_ARGUMENT',
    [
      ...NOT_STRINGS.filter(([what]) => what !== 'bytes'),
      ['a spoofed Uint8Array (an object without signTypedData)', spoof(32)],
      ['a Uint16Array', new Uint16Array(32)],
    ],
  ],
  [
    'toSigner',
    's (key material)',
    (v) => api.toSigner(v as never),
    'INVALID_PRIVATE_KEY',
    [
      ['too short', new Uint8Array(31)],
      ['too long', new Uint8Array(33)],
      ['short hex', '0x12'],
    ],
  ],
  // A signer's own entry point: signTypedData rejects before any wallet is asked.
  [
    'privateKeySigner().signTypedData',
    'typedData',
    (v) => api.privateKeySigner(KEY).signTypedData(v as never),
    'INVALID_ARGUMENT',
    BAD_TYPED.filter(([what]) => !what.includes('bigint chainId')),
  ],
  [
    'eip1193Signer().signTypedData',
    'typedData',
    (v) => api.eip1193Signer(wallet(`0x${'00'.repeat(65)}`), KEY_ADDRESS).signTypedData(v as never),
    'INVALID_ARGUMENT',
    BAD_TYPED,
  ],
  [
    'typedDataSigner().signTypedData',
    'typedData',
    (v) => api.typedDataSigner(account()).signTypedData(v as never),
    'INVALID_ARGUMENT',
    BAD_TYPED.filter(([what]) => !what.includes('bigint chainId')),
  ],
];

/** The error `call(value)` throws or rejects with. */
async function failure(call: Call, value: unknown): Promise<unknown> {
  try {
    await call(value);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('every public entry point rejects wrong argument types with its own coded error', () => {
  test('the table covers every exported function (generatePrivateKey takes no argument)', () => {
    const functions = Object.entries(api)
      .filter(([, v]) => typeof v === 'function' && v !== AuthEthError)
      .map(([name]) => name);
    const covered = new Set([...TABLE.map(([name]) => name.split('(')[0]!), 'isAddress', 'verifyLogin']);
    expect(functions.filter((name) => !covered.has(name))).toEqual(['generatePrivateKey']);
  });

  describe.each(TABLE)('%s(%s)', (_name, _arg, call, code, values) => {
    test.each(values)(`%s → ${code}`, async (_what, value) => {
      const err = await failure(call, value);
      expect(err).toBeInstanceOf(AuthEthError);
      expect(err).toMatchObject({ name: 'AuthEthError', code });
    });
  });

  test.each([...NOT_STRINGS, ['spoofed bytes', spoof(20)]])('isAddress(%s) is false and never throws', (_what, v) => {
    expect(api.isAddress(v as string)).toBe(false);
  });

  const good = { fields: FIELDS, signature: new Uint8Array(65), address: KEY_ADDRESS };
  test.each<[string, unknown]>([
    ['null', null],
    ['a string', 'x'],
    ['null fields', { ...good, fields: null }],
    ['a spoofed signature', { ...good, signature: spoof(65) }],
    ['a hex signature', { ...good, signature: `0x${'00'.repeat(65)}` }],
    ['a number address', { ...good, address: 1 }],
    ['a string chainId', { ...good, chainId: '1' }],
    ['a number domainName', { ...good, domainName: 1 }],
  ])('verifyLogin(%s) is false and never throws', (_what, params) => {
    expect(api.verifyLogin(params as never)).toBe(false);
  });
});
