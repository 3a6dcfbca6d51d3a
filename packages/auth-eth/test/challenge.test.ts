import { AuthEthError, createChallenge, DEFAULT_AUTH_MESSAGE, parseChallenge } from '../src/index.js';
import { codeOf, INVALID_ARGUMENT, PROMPTS } from './fixtures.js';

describe('createChallenge (PROTOCOL.md 4.2 step 2)', () => {
  it('makes 32 lowercase hex digits, JSON with Message first, and matching fields', () => {
    const { challenge, json, fields } = createChallenge();
    expect(challenge).toMatch(/^[0-9a-f]{32}$/u);
    expect(fields).toEqual({ Message: DEFAULT_AUTH_MESSAGE, Challenge: challenge });
    expect(Object.keys(fields)).toEqual(['Message', 'Challenge']);
    expect(json).toBe(`{"Message":${JSON.stringify(DEFAULT_AUTH_MESSAGE)},"Challenge":"${challenge}"}`);
    expect(parseChallenge(json)).toEqual(fields);
  });

  it('never repeats over 10,000 challenges, and every one has the right format', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const { challenge } = createChallenge();
      expect(challenge).toMatch(/^[0-9a-f]{32}$/u);
      seen.add(challenge);
    }
    expect(seen.size).toBe(10_000);
  });

  it('uses the injected randomness source, asking for 16 bytes', () => {
    const asked: number[] = [];
    const { challenge, json } = createChallenge({
      message: 'Sign in to game.example.com',
      randomBytes: (n) => {
        asked.push(n);
        return Uint8Array.from({ length: n }, (_, i) => i * 17);
      },
    });
    expect(asked).toEqual([16]);
    expect(challenge).toBe('00112233445566778899aabbccddeeff');
    expect(json).toBe('{"Message":"Sign in to game.example.com","Challenge":"00112233445566778899aabbccddeeff"}');
  });

  it.each(PROMPTS.filter((p) => p !== ''))('round-trips the prompt %#', (message) => {
    const { json, fields } = createChallenge({ message });
    expect(parseChallenge(json)).toEqual(fields);
    expect(fields.Message).toBe(message);
  });

  it('validates its options', () => {
    expect(() => createChallenge({ message: '' })).toThrow(INVALID_ARGUMENT);
    expect(() => createChallenge({ message: 42 as unknown as string })).toThrow(INVALID_ARGUMENT);
    expect(() => createChallenge({ message: 'bad \uD800 surrogate' })).toThrow(INVALID_ARGUMENT);
    expect(() => createChallenge({ randomBytes: () => new Uint8Array(15) })).toThrow(INVALID_ARGUMENT);
    expect(() => createChallenge({ randomBytes: () => new Uint8Array(17) })).toThrow(INVALID_ARGUMENT);
    expect(() => createChallenge({ randomBytes: () => [1, 2, 3] as unknown as Uint8Array })).toThrow(INVALID_ARGUMENT);
    expect(() => createChallenge({ randomBytes: 'x' as unknown as () => Uint8Array })).toThrow(INVALID_ARGUMENT);
  });
});

describe('parseChallenge', () => {
  const C = '0123456789abcdef0123456789abcdef';

  it('accepts the two keys in either order and returns only them', () => {
    expect(parseChallenge(`{"Message":"Hi","Challenge":"${C}"}`)).toEqual({ Message: 'Hi', Challenge: C });
    expect(parseChallenge(`{"Challenge":"${C}","Message":"Hi"}`)).toEqual({ Message: 'Hi', Challenge: C });
    expect(parseChallenge(` {\n "Message" : "" , "Challenge" : "${C}" } `)).toEqual({ Message: '', Challenge: C });
  });

  it.each([
    ['not JSON', 'Message: Hi'],
    ['truncated JSON', `{"Message":"Hi","Challenge":"${C}"`],
    ['empty text', ''],
    ['a JSON array', `["Hi","${C}"]`],
    ['a JSON string', `"${C}"`],
    ['JSON null', 'null'],
    ['a JSON number', '1'],
    ['an extra key', `{"Message":"Hi","Challenge":"${C}","Expires":"never"}`],
    ['a __proto__ key', `{"Message":"Hi","Challenge":"${C}","__proto__":{}}`],
    ['a missing Message', `{"Challenge":"${C}"}`],
    ['a missing Challenge', '{"Message":"Hi"}'],
    ['an empty object', '{}'],
    ['lowercase keys', `{"message":"Hi","challenge":"${C}"}`],
    ['a numeric Message', `{"Message":1,"Challenge":"${C}"}`],
    ['a null Message', `{"Message":null,"Challenge":"${C}"}`],
    ['an object Message', `{"Message":{},"Challenge":"${C}"}`],
    ['a lone surrogate in Message', `{"Message":"\\ud800","Challenge":"${C}"}`],
    ['a numeric Challenge', '{"Message":"Hi","Challenge":1234}'],
    ['an array Challenge', `{"Message":"Hi","Challenge":["${C}"]}`],
    ['an upper-case Challenge', `{"Message":"Hi","Challenge":"${C.toUpperCase()}"}`],
    ['a 0x-prefixed Challenge', `{"Message":"Hi","Challenge":"0x${C}"}`],
    ['a 31-digit Challenge', `{"Message":"Hi","Challenge":"${C.slice(1)}"}`],
    ['a 33-digit Challenge', `{"Message":"Hi","Challenge":"${C}0"}`],
    ['a non-hex Challenge', `{"Message":"Hi","Challenge":"${'g'.repeat(32)}"}`],
    ['a Challenge with a newline', `{"Message":"Hi","Challenge":"${C}\\n"}`],
  ])('rejects %s as INVALID_CHALLENGE', (_, json) => {
    expect(codeOf(() => parseChallenge(json))).toBe('INVALID_CHALLENGE');
  });

  it('rejects a non-string argument as INVALID_CHALLENGE', () => {
    expect(codeOf(() => parseChallenge({ Message: 'Hi', Challenge: C } as unknown as string))).toBe(
      'INVALID_CHALLENGE',
    );
    expect(codeOf(() => parseChallenge(undefined as unknown as string))).toBe('INVALID_CHALLENGE');
  });

  it('keeps the JSON parse error as the cause', () => {
    try {
      parseChallenge('{');
      throw new Error('did not throw');
    } catch (err) {
      expect(err).toBeInstanceOf(AuthEthError);
      expect((err as AuthEthError).cause).toBeInstanceOf(SyntaxError);
    }
  });
});
