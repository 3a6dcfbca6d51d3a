// The board game's message format, shared by the Degas (degas.mjs), the page (web/main.js) and
// the bots (bots.mjs). Plain ESM without Node built-ins, so the page bundle can import it.
//
// Payloads are compact binary, little-endian, first byte = opcode:
//
//   client → Degas
//     JOIN  0x01                               put me on the board (sent after every (re)connect)
//     MOVE  0x02 dx:i8 dy:i8                    move one cell; dx, dy ∈ {-1, 0, 1}
//     GOTO  0x03 x:u16 y:u16                    jump to a cell (a click on the canvas)
//
//   Degas → client
//     STATE 0x10 width:u16 height:u16 count:u16 then count × (accountId:16 bytes, x:u16, y:u16)
//     FULL  0x11                               the board has no room for another player
//
// A STATE is the whole board (20 bytes per player), sent with sendMany to every player whenever
// something changed, at most TICK_HZ times per second.

export const Op = Object.freeze({ JOIN: 0x01, MOVE: 0x02, GOTO: 0x03, STATE: 0x10, FULL: 0x11 });

/** Board size in cells. */
export const WIDTH = 40;
export const HEIGHT = 25;
/** Most players on one board; 20 bytes each keeps a STATE far below the 64 KiB payload limit. */
export const MAX_PLAYERS = 512;
/** Upper bound on STATE fan-outs per second. */
export const TICK_HZ = 20;

const ID_LENGTH = 16;
const STATE_HEADER = 7;
const STATE_ENTRY = ID_LENGTH + 4;

/** JOIN payload. */
export function encodeJoin() {
  return Uint8Array.of(Op.JOIN);
}

/** MOVE payload; dx and dy are clamped to -1…1. */
export function encodeMove(dx, dy) {
  return Uint8Array.of(Op.MOVE, clampStep(dx) & 0xff, clampStep(dy) & 0xff);
}

/** GOTO payload. */
export function encodeGoto(x, y) {
  const out = new Uint8Array(5);
  const view = new DataView(out.buffer);
  out[0] = Op.GOTO;
  view.setUint16(1, x, true);
  view.setUint16(3, y, true);
  return out;
}

/**
 * Decodes a client → Degas payload. Returns undefined for anything malformed: the Degas ignores
 * it rather than trusting a client.
 * @returns {{op: 1} | {op: 2, dx: number, dy: number} | {op: 3, x: number, y: number} | undefined}
 */
export function decodeClientPayload(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case Op.JOIN:
      return bytes.length === 1 ? { op: Op.JOIN } : undefined;
    case Op.MOVE:
      if (bytes.length !== 3) return undefined;
      return { op: Op.MOVE, dx: clampStep(view.getInt8(1)), dy: clampStep(view.getInt8(2)) };
    case Op.GOTO:
      if (bytes.length !== 5) return undefined;
      return { op: Op.GOTO, x: view.getUint16(1, true), y: view.getUint16(3, true) };
    default:
      return undefined;
  }
}

/**
 * STATE payload.
 * @param {number} width
 * @param {number} height
 * @param {Array<{id: Uint8Array, x: number, y: number}>} players
 */
export function encodeState(width, height, players) {
  const out = new Uint8Array(STATE_HEADER + players.length * STATE_ENTRY);
  const view = new DataView(out.buffer);
  out[0] = Op.STATE;
  view.setUint16(1, width, true);
  view.setUint16(3, height, true);
  view.setUint16(5, players.length, true);
  let at = STATE_HEADER;
  for (const p of players) {
    out.set(p.id, at);
    view.setUint16(at + ID_LENGTH, p.x, true);
    view.setUint16(at + ID_LENGTH + 2, p.y, true);
    at += STATE_ENTRY;
  }
  return out;
}

/** FULL payload. */
export function encodeFull() {
  return Uint8Array.of(Op.FULL);
}

/**
 * Decodes a Degas → client payload; undefined when malformed.
 * @returns {{op: 16, width: number, height: number, players: Array<{id: string, x: number, y: number}>} | {op: 17} | undefined}
 *   player ids as `0x` + 32 lowercase hex digits
 */
export function decodeServerPayload(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) return undefined;
  if (bytes[0] === Op.FULL) return bytes.length === 1 ? { op: Op.FULL } : undefined;
  if (bytes[0] !== Op.STATE || bytes.length < STATE_HEADER) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint16(5, true);
  if (bytes.length !== STATE_HEADER + count * STATE_ENTRY) return undefined;
  const players = [];
  let at = STATE_HEADER;
  for (let i = 0; i < count; i++) {
    players.push({
      id: hex(bytes.subarray(at, at + ID_LENGTH)),
      x: view.getUint16(at + ID_LENGTH, true),
      y: view.getUint16(at + ID_LENGTH + 2, true),
    });
    at += STATE_ENTRY;
  }
  return { op: Op.STATE, width: view.getUint16(1, true), height: view.getUint16(3, true), players };
}

/** A stable colour for a player id (hex text), so everyone sees the same colour for the same player. */
export function colorOf(idHex) {
  let h = 0;
  for (let i = 2; i < idHex.length; i++) h = (h * 31 + idHex.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 70% 50%)`;
}

function clampStep(n) {
  return n > 0 ? 1 : n < 0 ? -1 : 0;
}

function hex(bytes) {
  let s = '0x';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}
