// Plain ESM JavaScript, run by jest in native ESM mode (no transform).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  transform: {},
  testMatch: ['<rootDir>/test/**/*.test.js'],
  testTimeout: 30000,
};
