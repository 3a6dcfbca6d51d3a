import type { TicketStore } from './client.js';

/** The part of the Web Storage API (`sessionStorage`, `localStorage`) the ticket store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const HEX = /^(?:[0-9a-f]{2}){1,512}$/;

/**
 * A {@link TicketStore} over Web Storage, so that a page reload resumes the session without a
 * wallet signature. Prefer `sessionStorage` (one tab, cleared when the tab closes) to
 * `localStorage`; either way, any script running on the page's origin can read the ticket and use
 * it once, within the gateway's resume window after a drop. Use one key per account.
 * @example
 * const client = new DegasClient({
 *   url, accountId, signer,
 *   ticketStore: webStorageTicketStore(sessionStorage, `degas-ticket:${accountId}`),
 * });
 */
export function webStorageTicketStore(storage: StorageLike, key: string): TicketStore {
  if (storage === null || typeof storage !== 'object' || typeof storage.getItem !== 'function') {
    throw new TypeError('storage must be a Web Storage object (sessionStorage or localStorage)');
  }
  if (typeof key !== 'string' || key === '') throw new TypeError('key must be a non-empty string');
  return {
    load() {
      const hex = storage.getItem(key);
      if (hex === null || !HEX.test(hex)) return undefined;
      const out = new Uint8Array(hex.length / 2);
      for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
      return out;
    },
    save(ticket) {
      if (ticket === undefined) {
        storage.removeItem(key);
        return;
      }
      let hex = '';
      for (const b of ticket) hex += b.toString(16).padStart(2, '0');
      storage.setItem(key, hex);
    },
  };
}
