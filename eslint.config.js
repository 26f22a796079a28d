// @ts-check
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The import boundary of ARCHITECTURE.md, as one rule (no-restricted-imports) configured per
 * runtime folder: app is imported by all and imports none of them; renderer never imports main
 * or agent; agent never imports main; only main/electron imports `electron`.
 * A later config object replaces the rule for its files, so each folder lists its whole set.
 */
const banned = {
  main: {
    regex: '^(\\.{1,2}/)+main(/|$)',
    message: 'Import boundary: this part must not import main/ (see ARCHITECTURE.md).',
  },
  agent: {
    regex: '^(\\.{1,2}/)+agent(/|$)',
    message: 'Import boundary: this part must not import agent/ (see ARCHITECTURE.md).',
  },
  renderer: {
    regex: '^(\\.{1,2}/)+renderer(/|$)',
    message: 'Import boundary: only the renderer build imports renderer/.',
  },
  node: {
    regex: '^node:',
    message: 'Import boundary: app/ is pure and runs everywhere; no Node built-ins.',
  },
};
const electron = {
  name: 'electron',
  message:
    'Import boundary: only main/electron/ may import electron (main/services runs under plain Node).',
};
const boundary = (/** @type {Array<keyof typeof banned>} */ parts) => ({
  'no-restricted-imports': ['error', { paths: [electron], patterns: parts.map((p) => banned[p]) }],
});

export default defineConfig([
  globalIgnores([
    'node_modules/',
    'dist/',
    'release/',
    '.tsbuild/',
    'artifacts/',
    'test-results/',
    'playwright-report/',
    '.demo/',
    '.tmp/',
    'scripts/lib/*.d.mts',
  ]),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        // vite.config.ts runs in Node at build time and belongs to no runtime's tsconfig.
        projectService: { allowDefaultProject: ['renderer/vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { attributes: false } },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': ['error', { paths: [electron] }],
    },
  },
  { files: ['app/**'], rules: boundary(['main', 'agent', 'renderer', 'node']) },
  { files: ['renderer/**'], rules: boundary(['main', 'agent']) },
  { files: ['agent/**'], rules: boundary(['main', 'renderer']) },
  { files: ['main/**'], rules: boundary(['renderer', 'agent']) },
  { files: ['main/electron/**'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['renderer/vite.config.ts'], rules: { 'no-restricted-imports': 'off' } },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { ...globals.node } },
  },
]);
