#!/usr/bin/env node
// Entry point of the tideline-agent command: the bundled daemon (npm run build makes it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/agent/cli.mjs', import.meta.url);
if (!existsSync(fileURLToPath(bundle))) {
  process.stderr.write('tideline-agent is not built yet: run "npm run build" first.\n');
  process.exit(1);
}
await import(bundle.href);
