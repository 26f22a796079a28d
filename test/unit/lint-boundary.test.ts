import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

// The import boundary of ARCHITECTURE.md is a lint rule; this proves it bites. The fixtures
// are written into the real folders (so the real config applies) and removed after.
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({ cwd: root });

async function lint(relPath: string, source: string): Promise<string[]> {
  const file = join(root, relPath);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, source);
  try {
    const [result] = await eslint.lintFiles([file]);
    return (result?.messages ?? [])
      .filter((m) => m.ruleId === 'no-restricted-imports')
      .map((m) => m.message);
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}

const cases: [string, string, RegExp | null][] = [
  ['renderer/__boundary__/x.ts', "import '../../main/services/settings';", /must not import main/],
  ['renderer/__boundary__/x.ts', "import '../../agent/cli';", /must not import agent/],
  ['renderer/__boundary__/x.ts', "import 'electron';", /only main\/electron/],
  ['agent/__boundary__/x.ts', "import '../../main/services/settings';", /must not import main/],
  ['agent/__boundary__/x.ts', "import 'electron';", /only main\/electron/],
  ['main/services/__boundary__/x.ts', "import 'electron';", /only main\/electron/],
  ['main/web/__boundary__/x.ts', "import 'electron';", /only main\/electron/],
  ['app/__boundary__/x.ts', "import '../../agent/cli';", /must not import agent/],
  ['app/__boundary__/x.ts', "import 'node:fs';", /no Node built-ins/],
  ['main/electron/__boundary__/x.ts', "import 'electron';", null],
  ['renderer/__boundary__/x.ts', "import '../../app/errors';", null],
];

for (const [path, source, expected] of cases) {
  test(`${expected ? 'refuses' : 'allows'} ${source} in ${path.split('/__')[0]}`, async () => {
    const messages = await lint(path, `${source}\nexport {};\n`);
    if (expected === null) assert.deepEqual(messages, []);
    else
      assert.ok(
        messages.some((m) => expected.test(m)),
        `got: ${messages.join(' | ') || 'nothing'}`,
      );
  });
}
