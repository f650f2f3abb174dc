/** Architecture rules checked by `pnpm lint`. */

// A package's entry points, as its package.json `exports` names them: src/index.ts, and the bus's dependency-free
// alert vocabulary, which the CLI loads at start and the dashboard bundles for the browser.
const NOT_AN_ENTRY_POINT = '^packages/[^/]+/src/(?!(?:index|alert-vocabulary)\\.ts$)';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Import cycles make start order and tests fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-service-to-service',
      severity: 'error',
      comment: 'Services talk over NATS subjects; they share code only through packages/.',
      from: { path: '^services/([^/]+)/' },
      to: { path: '^services/([^/]+)/', pathNot: '^services/$1/' },
    },
    {
      name: 'packages-do-not-import-services',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^services/' },
    },
    {
      name: 'packages-only-through-their-index',
      severity: 'error',
      comment: "Import a package by its name (@terminusa/x), which resolves to its src/index.ts; never a file inside it.",
      from: { path: '^(services|tests)/' },
      to: { path: NOT_AN_ENTRY_POINT },
    },
    {
      name: 'no-deep-package-imports-between-packages',
      severity: 'error',
      from: { path: '^packages/([^/]+)/' },
      to: { path: NOT_AN_ENTRY_POINT, pathNot: '^packages/$1/' },
    },
    {
      name: 'no-vitest-in-shipped-code',
      severity: 'error',
      comment:
        'Code under src/ ships; only its tests (*.test.ts), vitest global setups and the test support itself (@terminusa/testkit, <package or service>/test-support/) may import vitest.',
      from: { path: '^(packages|services)/[^/]+/src/', pathNot: ['\\.test\\.ts$', '\\.global-setup\\.ts$', '^packages/testkit/'] },
      to: { path: '(^|/)node_modules/(vitest|@vitest/[^/]+)/' },
    },
    {
      name: 'main-is-wiring-only',
      severity: 'error',
      comment: "A service's main.ts wires its own folders, the runtime and the packages; clients, metrics and handlers are built in modules it imports.",
      from: { path: '^services/[^/]+/src/main\\.ts$' },
      to: { path: 'node_modules', pathNot: 'node_modules/@types/' },
    },
  ],
  options: {
    // Not excluded, only not followed: a dependency on a package (vitest) must stay visible to the rules.
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    preserveSymlinks: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
