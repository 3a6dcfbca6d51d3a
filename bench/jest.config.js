// Plain ESM JavaScript, no transform: jest runs in native ESM mode (--experimental-vm-modules,
// set by the `test` script). The smoke test starts real processes, hence the long timeout.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  transform: {},
  testMatch: ['<rootDir>/test/**/*.test.js'],
  testTimeout: 45000,
};
