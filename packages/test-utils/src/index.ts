/**
 * @degas/test-utils — the one test harness of the Degas Message Service packages (private, not
 * published): an in-process gateway with test defaults ({@link startTestGateway}), the real
 * gateway bin as a process ({@link spawnGateway}), a scriptable Degas, a protocol-aware `ws`
 * client and a raw RFC 6455 client for hostile framing, deterministic test accounts and an
 * in-memory account directory, a nats-server, a test CA, and waits.
 *
 * How to extend it (README.md has the details): a helper that a second test file would copy
 * belongs here, in the module of its concern, exported below with a doc comment and an
 * `@example`. test-utils must not import `@degas/gateway`, `@degas/client` or
 * `@degas/degas-sdk` (their tests use it: a dependency cycle); take what it needs as a parameter,
 * as {@link startTestGateway} takes `startGateway`, or describe it structurally
 * ({@link GatewayLike}), and never reach into another package's files by relative path.
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
export { degasFlag, gatewayBin, runGatewayBin, spawnGateway } from './spawn.js';
export type { GatewayLike, TestGateway, TestGatewayDegas, TestGatewayFixture } from './test-gateway.js';
export { startTestGateway, TEST_GATEWAY_DEFAULTS } from './test-gateway.js';
export { AsyncQueue, deferred, TimeoutError, until, within } from './wait.js';
export type { WsCloseResult, WsTestClientOptions } from './ws-client.js';
export { upgradeStatus, WsTestClient } from './ws-client.js';
