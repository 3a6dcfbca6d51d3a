/**
 * @degas/test-utils — private helpers for the Degas Message Service tests: a raw RFC 6455 client
 * for hostile framing, a well-behaved `ws` client, deterministic test accounts and signers, a
 * scriptable Degas, and a launcher for the real gateway bin.
 */
export type { DirectoryAccount, DirectorySigner, MemoryAccountDirectory, TestAccount } from './accounts.js';
export { memoryAccounts, testAccount, testAccountId, testDegasId, testKey } from './accounts.js';
export type { TestCa, TestCertificate } from './certs.js';
export { createTestCa } from './certs.js';
export type { TestDegas, TestDegasMode, TestDegasOptions } from './degas.js';
export { startBlackhole, startTestDegas } from './degas.js';
export type { LoginCapable, LoginResult } from './login.js';
export { degasFrame, ethAuthFrame, helloAndChallenge, helloFrame, LoginError, loginRaw } from './login.js';
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
export type { SpawnedGateway } from './spawn.js';
export { GATEWAY_BIN, spawnGateway } from './spawn.js';
export { AsyncQueue, deferred, TimeoutError, until, within } from './wait.js';
export type { WsTestClientOptions } from './ws-client.js';
export { WsTestClient } from './ws-client.js';
