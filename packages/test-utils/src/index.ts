/**
 * @degas/test-utils — the one test harness of the Degas Message Service packages (private, not
 * published): an in-process gateway with test defaults ({@link startTestGateway}), the real
 * gateway bin as a process ({@link spawnGateway}), a scriptable Degas, a protocol-aware `ws`
 * client and a raw RFC 6455 client for hostile framing, deterministic test accounts and an
 * in-memory account directory, a nats-server, a test CA, and waits.
 *
 * How to extend it:
 * - A helper that a second test file would copy belongs here, not in that package's test/
 *   directory: add it to the module of its concern (accounts, degas, login, ws-client,
 *   test-gateway, spawn, wait, …) or a new module, export it below, and give it a doc comment
 *   with an `@example`. Test it in test/test-utils.test.ts when it has logic of its own.
 * - test-utils depends only on published packages that do not use it (`@degas/proto`,
 *   `@degas/auth-eth`). It must not import `@degas/gateway`, `@degas/client` or
 *   `@degas/degas-sdk`: their tests use test-utils, so that would be a dependency cycle. Take
 *   what it needs from them as a parameter (as {@link startTestGateway} takes `startGateway`)
 *   or describe it structurally (as {@link GatewayLike} and the account directory types do).
 *   Nothing here reaches into another package's files by relative path; the gateway bin is
 *   resolved through the `@degas/gateway` package of the caller ({@link gatewayBin}).
 * - Waits are events or bounded polls ({@link within}, {@link until}), never fixed sleeps; ports
 *   are chosen by the OS.
 */
export type {
  CountingSigner,
  DirectoryAccount,
  DirectorySigner,
  LookupDelay,
  MemoryAccountDirectory,
  SetAccountOptions,
  TestAccount,
} from './accounts.js';
export {
  countingSigner,
  freshDegasId,
  freshTestAccount,
  memoryAccounts,
  testAccount,
  testAccountId,
  testDegasId,
  testKey,
} from './accounts.js';
export { testBytes, varintBytes } from './bytes.js';
export type { TestCa, TestCertificate } from './certs.js';
export { createTestCa } from './certs.js';
export type { MemoryDegasDirectory, TestDegas, TestDegasMode, TestDegasOptions } from './degas.js';
export { memoryDegasDirectory, startBlackhole, startTestDegas } from './degas.js';
export type { TempDir } from './files.js';
export { accountsFileJson, tempDir } from './files.js';
export type { LoginCapable, LoginResult } from './login.js';
export {
  degasFrame,
  ethAuthFrame,
  helloAndChallenge,
  helloFrame,
  LoginError,
  loginRaw,
  signChallenge,
} from './login.js';
export type { NatsServer, NatsServerOptions } from './nats.js';
export { natsServerBin, startNatsServer } from './nats.js';
export type {
  CloseResult,
  FrameSpec,
  HttpResponseHead,
  ReceivedFrame,
  UpgradeOptions,
  UpgradeResult,
} from './raw-client.js';
export { closePayload, encodeFrame, httpUpgrade, Opcode, RawClient, UpgradeRejectedError } from './raw-client.js';
export {
  bigIntTo32,
  bytesToBigInt,
  highSTwin,
  SECP256K1_N,
  SECP256K1_P,
  signatureOf,
} from './signatures.js';
export type { BinRun, SpawnedGateway } from './spawn.js';
export { gatewayBin, runGatewayBin, spawnGateway } from './spawn.js';
export type { GatewayLike, TestGateway, TestGatewayDegas, TestGatewayFixture } from './test-gateway.js';
export { startTestGateway, TEST_GATEWAY_DEFAULTS } from './test-gateway.js';
export { AsyncQueue, deferred, TimeoutError, until, within } from './wait.js';
export type { WsCloseResult, WsTestClientOptions } from './ws-client.js';
export { upgradeStatus, WsTestClient } from './ws-client.js';
