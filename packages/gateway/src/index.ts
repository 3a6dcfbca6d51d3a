/**
 * @degas/gateway — the Degas Message Service gateway. Start one with {@link startGateway}; the
 * `degas-gateway` command is a thin shim over it.
 */
export { addAccount, createFileAccountDirectory, createRpcAccountDirectory } from './accounts.js';
export { type ClusterRegistry, createNatsRegistry, type NatsRegistryOptions } from './cluster.js';
export { type BuiltOptions, buildGatewayOptions, type Config, ConfigError, loadConfig } from './config.js';
export {
  chainDegasDirectories,
  createStaticDegasDirectory,
  createTemplateDegasDirectory,
  loadDegasFile,
} from './degas-directory.js';
export { GatewayError, type GatewayErrorCode } from './errors.js';
export { type GatewayHandle, startGateway } from './gateway.js';
export { createLogger, isLogLevel, type LogFields, type Logger, type LogLevel, silentLogger } from './logger.js';
export { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
export {
  type AccountState,
  type ClaimResult,
  Delivery,
  type DeliveryOrigin,
  LocalRegistry,
  type LocalRegistryOptions,
  type RegisteredSession,
  type RegistryHost,
  type RegistrySnapshot,
  type SessionRegistry,
} from './registry.js';
export type { ResumeResult } from './resume.js';
export type { AuthFailReason, GatewayStats, UpgradeRejectReason } from './stats.js';
export {
  TlsFileError,
  type TlsFileProblem,
  type TlsFiles,
  type TlsFilesEvents,
  type TlsPair,
} from './tls.js';
export type {
  Account,
  AccountDirectory,
  DegasDirectory,
  DegasEndpoint,
  EthereumSigner,
  GatewayOptions,
  GatewaySnapshot,
  LinkState,
  MutableDegasDirectory,
} from './types.js';
export { createVerifier, type Verifier, type VerifierKind, type VerifierOptions } from './verifier.js';
