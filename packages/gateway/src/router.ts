/**
 * The router (ARCHITECTURE.md 2): account id → ForwardState session, Degas id → internal link.
 * Single node: two in-process maps keyed by `idKey`. Routing knows nothing about authentication;
 * a cluster router would implement the same surface over NATS.
 */

/** What the router needs of a session: nothing but identity (removal compares the object). */
export type RoutedSession = object;

/**
 * In-process maps of sessions and links.
 * @example
 * const router = new Router<ClientSession, DegasLink>();
 * const previous = router.setSession(key, session);
 */
export class Router<S extends RoutedSession, L> {
  readonly sessions = new Map<string, S>();
  readonly links = new Map<string, L>();

  /** The ForwardState session of an account, if any. */
  getSession(accountKey: string): S | undefined {
    return this.sessions.get(accountKey);
  }

  /** Registers `session` for the account and returns the one it replaces (if any). */
  setSession(accountKey: string, session: S): S | undefined {
    const previous = this.sessions.get(accountKey);
    this.sessions.set(accountKey, session);
    return previous;
  }

  /**
   * Removes the account's entry only if it is still `session`: a late close of a replaced
   * connection must never remove its successor.
   */
  removeSession(accountKey: string, session: S): boolean {
    if (this.sessions.get(accountKey) !== session) return false;
    this.sessions.delete(accountKey);
    return true;
  }

  /** The link of a Degas id, if one exists. */
  getLink(degasKey: string): L | undefined {
    return this.links.get(degasKey);
  }

  setLink(degasKey: string, link: L): void {
    this.links.set(degasKey, link);
  }

  /** Removes the entry only if it is still `link`. */
  removeLink(degasKey: string, link: L): void {
    if (this.links.get(degasKey) === link) this.links.delete(degasKey);
  }
}
