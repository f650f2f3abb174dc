import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', 'data/**', 'coverage/**', '.dependency-cruiser.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly', performance: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      // A package's surface is its explicit named exports (as in nats.js and OpenTelemetry JS).
      'no-restricted-syntax': ['error', { selector: 'ExportAllDeclaration', message: 'export names explicitly, not with export *' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The dashboard's browser code (preact .tsx); named so ESLint lints .tsx whatever the shared presets match.
    files: ['packages/dashboard/web/**/*.ts', 'packages/dashboard/web/**/*.tsx'],
    languageOptions: { globals: { window: 'readonly', document: 'readonly', location: 'readonly', sessionStorage: 'readonly', WebSocket: 'readonly', addEventListener: 'readonly', removeEventListener: 'readonly', atob: 'readonly', ResizeObserver: 'readonly', FormData: 'readonly', URLSearchParams: 'readonly' } },
  },
  {
    files: ['**/*.test.ts', 'tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
