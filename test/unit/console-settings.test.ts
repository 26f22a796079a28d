import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TidelineError } from '../../app/errors';
import { openNodeSettings } from '../../main/services/settings/node-settings';
import { parseSeed } from '../../main/services/settings/seed';
import { openSettings, type JsonFile } from '../../main/services/settings/settings-store';
import type { SecretBox } from '../../main/services/settings/secret-box';

const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(
  ':',
);
const TOKEN = 'abcdefghijklmnop0123';
const agent = { key: 'k1', address: '10.0.0.5:7443', fingerprint: FP, token: TOKEN, addedAt: 1 };

describe('console settings', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'tl-settings-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes settings.json (tab-indented JSON, like electron-store), mode 0600, and reads it back', () => {
    const dir = tmp();
    const store = openNodeSettings(dir);
    store.saveAgent(agent);
    assert.equal(store.path, join(dir, 'settings.json'));
    const text = readFileSync(store.path, 'utf8');
    assert.equal(
      text,
      JSON.stringify(
        {
          schemaVersion: 1,
          agents: [{ ...agent, token: { scheme: 'plain', value: TOKEN } }],
          hosts: [],
        },
        null,
        '\t',
      ),
    );
    assert.equal(statSync(store.path).mode & 0o777, 0o600);
    assert.deepEqual(openNodeSettings(dir).agents(), [agent]);
    store.saveAgent({ ...agent, address: '10.0.0.6:7443' });
    assert.deepEqual(
      openNodeSettings(dir)
        .agents()
        .map((a) => a.address),
      ['10.0.0.6:7443'],
    );
    assert.equal(store.removeAgent('k1'), true);
    assert.equal(store.removeAgent('k1'), false);
    assert.deepEqual(openNodeSettings(dir).agents(), []);
  });

  it('refuses an invalid file with the path of the problem, and leaves it alone', () => {
    const dir = tmp();
    const bad = JSON.stringify({
      schemaVersion: 1,
      agents: [{ ...agent, fingerprint: 'nope', token: { scheme: 'plain', value: TOKEN } }],
    });
    writeFileSync(join(dir, 'settings.json'), bad);
    assert.throws(
      () => openNodeSettings(dir),
      (e: unknown) => e instanceof TidelineError && /agents\[0\]\.fingerprint/.test(e.message),
    );
    assert.equal(readFileSync(join(dir, 'settings.json'), 'utf8'), bad);
  });

  it('refuses settings written by a newer console', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ schemaVersion: 99, agents: [] }));
    assert.throws(() => openNodeSettings(dir), /newer console/);
  });

  it('keeps keys it does not know (other features share the file)', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'settings.json'),
      JSON.stringify({ schemaVersion: 1, agents: [], drafts: { a: 1 } }),
    );
    openNodeSettings(dir).saveAgent(agent);
    const saved = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    assert.deepEqual(saved['drafts'], { a: 1 });
  });

  it('seals tokens with the SecretBox and reports a token sealed by another box as unreadable', () => {
    let content: Record<string, unknown> = {};
    const file: JsonFile = {
      path: '/virtual/settings.json',
      get store() {
        return structuredClone(content);
      },
      set store(v) {
        content = structuredClone(v);
      },
    };
    const box: SecretBox = {
      scheme: 'rot',
      seal: (s) => [...s].reverse().join(''),
      open: (s) => [...s].reverse().join(''),
    };
    openSettings(file, box).saveAgent(agent);
    const stored = (content['agents'] as { token: unknown }[])[0]?.token;
    assert.deepEqual(stored, { scheme: 'rot', value: [...TOKEN].reverse().join('') });
    assert.equal(openSettings(file, box).agents()[0]?.token, TOKEN);
    const other: SecretBox = { scheme: 'other', seal: (s) => s, open: (s) => s };
    assert.equal(openSettings(file, other).agents()[0]?.token, undefined);
  });

  it('parses seed files and names the bad field', () => {
    assert.deepEqual(
      parseSeed(
        JSON.stringify([{ address: '127.0.0.1:1', token: TOKEN, fingerprint: FP }]),
        'seed.json',
      ),
      [{ address: '127.0.0.1:1', token: TOKEN, fingerprint: FP }],
    );
    assert.throws(() => parseSeed('[{"address":"x"}]', 'seed.json'), /seed\.json.*\[0\]\.address/);
    assert.throws(() => parseSeed('nope', 'seed.json'), /not valid JSON/);
  });
});
