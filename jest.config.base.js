// Shared jest setup. Packages are ESM (noble is ESM-only), so jest runs in native ESM mode
// (`--experimental-vm-modules`, set by each package's `test` script) and ts-jest only
// transpiles TypeScript; type checking is `pnpm typecheck`.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, isolatedModules: true }],
  },
  // Every package keeps its tests in test/ (never next to the source).
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 20000,
};
