import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidIdError, idFromHex, idToHex } from '@degas/proto';
import {
  chainDegasDirectories,
  createStaticDegasDirectory,
  createTemplateDegasDirectory,
  DegasFileError,
  isMutableDegasDirectory,
  loadDegasFile,
  parseDegasSpec,
  validateDegasUrl,
  validateToken,
} from '../src/degas-directory.js';
import type { DegasDirectory } from '../src/types.js';

const A = '0x00112233445566778899aabbccddeeff';
const B = '0xffeeddccbbaa99887766554433221100';
const idA = idFromHex(A);
const idB = idFromHex(B);

describe('validateDegasUrl', () => {
  test.each(['ws://127.0.0.1:7000', 'wss://degas.example/path?x=1', 'WS://host', 'ws://[::1]:7000'])(
    'accepts %s',
    (u) => {
      expect(validateDegasUrl(u)).toBe(u);
    },
  );
  test.each([
    ['http://x', /must start with ws:\/\/ or wss:\/\//],
    ['ws:/x', /must start with ws:\/\//],
    ['ws://', /not valid/],
    ['', /must not be empty/],
    ['ws://user:pw@host', /credentials/],
    ['ws://host/#frag', /fragment/],
    ['ws://bad host', /not valid/],
  ])('rejects %j', (u, why) => {
    expect(() => validateDegasUrl(u)).toThrow(why);
  });
  test('credentials are not echoed in the message', () => {
    expect(() => validateDegasUrl('ws://user:hunter2@host')).toThrow(/^(?!.*hunter2)/);
  });
  test('rejects non-strings', () => {
    expect(() => validateDegasUrl(42)).toThrow(TypeError);
    expect(() => validateDegasUrl(null)).toThrow(/got null/);
  });
});

describe('validateToken', () => {
  test('accepts visible ASCII and rejects spaces, control characters, empty, too long', () => {
    expect(validateToken('a.b-c_d~e+f/g=')).toBe('a.b-c_d~e+f/g=');
    expect(() => validateToken('has space')).toThrow(/visible ASCII/);
    expect(() => validateToken('line\r\nX-Injected: 1')).toThrow(/visible ASCII/);
    expect(() => validateToken('')).toThrow(/empty/);
    expect(() => validateToken('x'.repeat(4097))).toThrow(/at most/);
  });
});

describe('createStaticDegasDirectory', () => {
  test('resolves registered ids by bytes, case-insensitive hex input', () => {
    const dir = createStaticDegasDirectory([{ id: A.toUpperCase().replace('0X', '0x'), url: 'ws://a:1', token: 't' }]);
    expect(dir.resolve(idA)).toEqual({ url: 'ws://a:1', token: 't' });
    expect(dir.resolve(idB)).toBeUndefined();
    expect(dir.resolve(new Uint8Array(3))).toBeUndefined();
  });
  test('register, list, unregister', () => {
    const dir = createStaticDegasDirectory();
    expect(isMutableDegasDirectory(dir)).toBe(true);
    dir.register(idB, { url: 'wss://b' });
    expect(dir.resolve(idB)).toEqual({ url: 'wss://b' });
    dir.register(idB, { url: 'wss://b2', token: 'x' });
    expect(dir.list().map((e) => [idToHex(e.id), e.endpoint])).toEqual([[B, { url: 'wss://b2', token: 'x' }]]);
    expect(dir.unregister(idB)).toBe(true);
    expect(dir.unregister(idB)).toBe(false);
    expect(dir.resolve(idB)).toBeUndefined();
  });
  test('stores a copy of the id', () => {
    const id = Uint8Array.from(idA);
    const dir = createStaticDegasDirectory([{ id, url: 'ws://a' }]);
    id[0] = 0xff;
    expect(dir.resolve(idA)).toEqual({ url: 'ws://a' });
  });
  test('validates entries', () => {
    expect(() => createStaticDegasDirectory([{ id: '0x1234', url: 'ws://a' }])).toThrow(InvalidIdError);
    expect(() => createStaticDegasDirectory([{ id: A, url: 'http://a' }])).toThrow(/ws:\/\//);
    expect(() => createStaticDegasDirectory([{ id: A, url: 'ws://a', token: 'a b' }])).toThrow(/visible ASCII/);
    const dir = createStaticDegasDirectory();
    expect(() => dir.register(new Uint8Array(15), { url: 'ws://a' })).toThrow(InvalidIdError);
  });
});

describe('createTemplateDegasDirectory', () => {
  test('replaces every {id} with 32 lowercase hex digits without 0x', () => {
    const dir = createTemplateDegasDirectory('ws://degas-{id}.games.svc:7000/{id}');
    expect(dir.resolve(idA)).toEqual({
      url: 'ws://degas-00112233445566778899aabbccddeeff.games.svc:7000/00112233445566778899aabbccddeeff',
    });
    expect(dir.resolve(new Uint8Array(2))).toBeUndefined();
    expect(isMutableDegasDirectory(dir)).toBe(false);
  });
  test('rejects templates without {id} or with a bad scheme', () => {
    expect(() => createTemplateDegasDirectory('ws://degas.svc:7000')).toThrow(/must contain \{id\}/);
    expect(() => createTemplateDegasDirectory('http://degas-{id}.svc')).toThrow(/ws:\/\/ or wss:\/\//);
  });
});

describe('chainDegasDirectories', () => {
  test('first directory that resolves wins; registrations go to the first mutable one', async () => {
    const first = createStaticDegasDirectory([{ id: A, url: 'ws://static' }]);
    const chain = chainDegasDirectories(first, createTemplateDegasDirectory('ws://t-{id}'));
    expect(await chain.resolve(idA)).toEqual({ url: 'ws://static' });
    expect(await chain.resolve(idB)).toEqual({ url: `ws://t-${B.slice(2)}` });
    expect(isMutableDegasDirectory(chain)).toBe(true);
    if (!isMutableDegasDirectory(chain)) throw new Error('unreachable');
    chain.register(idB, { url: 'ws://registered' });
    expect(first.resolve(idB)).toEqual({ url: 'ws://registered' });
    expect(await chain.resolve(idB)).toEqual({ url: 'ws://registered' });
    expect(chain.list()).toHaveLength(2);
    expect(chain.unregister(idB)).toBe(true);
    expect(await chain.resolve(idB)).toEqual({ url: `ws://t-${B.slice(2)}` });
  });
  test('handles async directories and falls through on undefined', async () => {
    const asyncMiss: DegasDirectory = { resolve: async () => undefined };
    const asyncHit: DegasDirectory = { resolve: async (id) => (id[0] === 0 ? { url: 'ws://async' } : undefined) };
    const chain = chainDegasDirectories(asyncMiss, asyncHit, createStaticDegasDirectory([{ id: B, url: 'ws://b' }]));
    expect(await chain.resolve(idA)).toEqual({ url: 'ws://async' });
    expect(await chain.resolve(idB)).toEqual({ url: 'ws://b' });
    expect(await chain.resolve(new Uint8Array(16).fill(7))).toBeUndefined();
    expect(isMutableDegasDirectory(chain)).toBe(true);
    expect(isMutableDegasDirectory(chainDegasDirectories(asyncMiss))).toBe(false);
  });
  test('close() closes every directory', async () => {
    let closed = 0;
    const d: DegasDirectory = { resolve: () => undefined, close: () => void closed++ };
    await chainDegasDirectories(d, d).close?.();
    expect(closed).toBe(2);
  });
  test('rejects non-directories', () => {
    expect(() => chainDegasDirectories({} as DegasDirectory)).toThrow(TypeError);
  });
});

describe('parseDegasSpec', () => {
  test('parses 0xID=URL and splits at the first =', () => {
    const { id, url } = parseDegasSpec(`${A}=ws://h:1/p?a=b`);
    expect(idToHex(id)).toBe(A);
    expect(url).toBe('ws://h:1/p?a=b');
  });
  test.each([
    ['nothing', /0xID=URL/],
    [`0x12=ws://a`, /32 hex/],
    [`${A}=http://a`, /ws:\/\//],
  ])('rejects %j', (s, why) => {
    expect(() => parseDegasSpec(s)).toThrow(why);
  });
});

describe('loadDegasFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'degas-file-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const load = async (content: string) => {
    const p = join(dir, `f${Math.random()}.json`);
    await writeFile(p, content);
    return loadDegasFile(p);
  };
  test('loads entries with and without token', async () => {
    const entries = await load(
      JSON.stringify({
        degas: [
          { id: A, url: 'ws://a:1', token: 'tok' },
          { id: B, url: 'wss://b' },
        ],
      }),
    );
    expect(entries.map((e) => ({ ...e, id: idToHex(e.id) }))).toEqual([
      { id: A, url: 'ws://a:1', token: 'tok' },
      { id: B, url: 'wss://b' },
    ]);
  });
  test.each([
    ['{', /not valid JSON/],
    ['[]', /JSON object/],
    ['{"degas":{}}', /must be an array/],
    ['{"degas":[],"extra":1}', /unknown key "extra"/],
    [`{"degas":[{"id":"${A}","url":"ws://a","tokn":"x"}]}`, /degas\[0\]: unknown key "tokn"/],
    [`{"degas":[{"id":"0x12","url":"ws://a"}]}`, /degas\[0\]\.id/],
    [`{"degas":[{"id":"${A}","url":"http://a"}]}`, /degas\[0\]\.url/],
    [`{"degas":[{"id":"${A}","url":"ws://a"},{"id":"${A}","url":"ws://b"}]}`, /degas\[1\]\.id: duplicate/],
    [`{"degas":[{"id":"${A}","url":"ws://a","token":""}]}`, /degas\[0\]\.token/],
    ['{"degas":[5]}', /degas\[0\] must be an object/],
  ])('rejects %s', async (content, why) => {
    await expect(load(content)).rejects.toThrow(why);
    await expect(load(content)).rejects.toBeInstanceOf(DegasFileError);
  });
  test('a missing file is an error naming the path', async () => {
    await expect(loadDegasFile(join(dir, 'missing.json'))).rejects.toThrow(/cannot read .*missing\.json: ENOENT/);
  });
});
