/** One jest run: unit specs beside the code (*.spec.ts), integration specs against real MariaDB and Redis (*.int.spec.ts), end to end (test/e2e). */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest loads this config as CommonJS
const { readFileSync } = require('node:fs');
const { $schema: _schema, ...swc } = JSON.parse(readFileSync(`${__dirname}/.swcrc`, 'utf8'));

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/packages', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['reflect-metadata'],
  transformIgnorePatterns: ['/node_modules/(?!(cookie|content-disposition)/)'],
  // The workspace packages' sources (their "bazaar-source" export), not their compiled dist/.
  testEnvironmentOptions: { customExportConditions: ['bazaar-source', 'node', 'node-addons'] },
  // The same swc options `npm run build` compiles production with (.swcrc).
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { ...swc, swcrc: false, sourceMaps: 'inline' }] },
  testTimeout: 30_000,
  maxWorkers: process.env.CI ? 2 : '50%',
};
