// ESM all the way: @actions/core 3 and @actions/github 9 ship only ESM.
// Type checking is done once by `tsc` in `npm test`; ts-jest only transpiles (isolatedModules).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // Integration tests start real servers, engines and registries.
  testTimeout: 60_000,
};
