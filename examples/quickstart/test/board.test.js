// The board's message format (board.mjs): round trips, and malformed input is rejected rather
// than trusted.
import {
  decodeClientPayload,
  decodeServerPayload,
  encodeFull,
  encodeGoto,
  encodeJoin,
  encodeMove,
  encodeState,
  MAX_PLAYERS,
  Op,
} from '../board.mjs';

const id = (n) => Uint8Array.from({ length: 16 }, (_, i) => (n * 16 + i) & 0xff);

test('client messages round-trip; MOVE steps are clamped to one cell', () => {
  expect(decodeClientPayload(encodeJoin())).toEqual({ op: Op.JOIN });
  expect(decodeClientPayload(encodeMove(-1, 1))).toEqual({ op: Op.MOVE, dx: -1, dy: 1 });
  expect(decodeClientPayload(encodeMove(7, -9))).toEqual({ op: Op.MOVE, dx: 1, dy: -1 });
  expect(decodeClientPayload(Uint8Array.of(Op.MOVE, 0x7f, 0x80))).toEqual({ op: Op.MOVE, dx: 1, dy: -1 });
  expect(decodeClientPayload(encodeGoto(39, 65535))).toEqual({ op: Op.GOTO, x: 39, y: 65535 });
});

test('malformed client messages decode to undefined', () => {
  for (const bad of [
    new Uint8Array(0),
    Uint8Array.of(0x00),
    Uint8Array.of(Op.JOIN, 0),
    Uint8Array.of(Op.MOVE, 1),
    Uint8Array.of(Op.GOTO, 1, 2, 3),
    Uint8Array.of(Op.STATE),
    'text',
  ]) {
    expect(decodeClientPayload(bad)).toBeUndefined();
  }
});

test('STATE round-trips with hex ids, and a full board fits in one payload', () => {
  const players = [
    { id: id(1), x: 0, y: 24 },
    { id: id(2), x: 39, y: 0 },
  ];
  const bytes = encodeState(40, 25, players);
  expect(bytes.length).toBe(7 + 2 * 20);
  expect(decodeServerPayload(bytes)).toEqual({
    op: Op.STATE,
    width: 40,
    height: 25,
    players: [
      { id: '0x101112131415161718191a1b1c1d1e1f', x: 0, y: 24 },
      { id: '0x202122232425262728292a2b2c2d2e2f', x: 39, y: 0 },
    ],
  });
  const full = encodeState(
    40,
    25,
    Array.from({ length: MAX_PLAYERS }, (_, i) => ({ id: id(i), x: 1, y: 1 })),
  );
  expect(full.length).toBeLessThanOrEqual(65536);
  expect(decodeServerPayload(full).players).toHaveLength(MAX_PLAYERS);
  expect(decodeServerPayload(encodeFull())).toEqual({ op: Op.FULL });
});

test('a STATE whose length does not match its count decodes to undefined', () => {
  const bytes = encodeState(40, 25, [{ id: id(1), x: 1, y: 1 }]);
  expect(decodeServerPayload(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
  expect(decodeServerPayload(Uint8Array.of(...bytes, 0))).toBeUndefined();
  expect(decodeServerPayload(Uint8Array.of(Op.STATE, 1))).toBeUndefined();
  expect(decodeServerPayload(Uint8Array.of(Op.FULL, 0))).toBeUndefined();
});
