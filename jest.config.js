// This machine may run Node.js 20 while Lambda runs 22: the SDK's notice about it is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// @middy/core ships ES modules only: swc transpiles it (and our TypeScript) to CommonJS for jest.
const transform = {
  '^.+\\.(t|j)s$': [
    '@swc/jest',
    { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
  ],
};
const transformIgnorePatterns = ['/node_modules/(?!@middy/)'];

/** @type {import('jest').Config} */
module.exports = {
  // Time in the tests is simulated; this only bounds a hung test, so that a loaded machine never fails one.
  testTimeout: 120_000,
  projects: [
    { displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'], transform, transformIgnorePatterns },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform,
      transformIgnorePatterns,
    },
  ],
};
