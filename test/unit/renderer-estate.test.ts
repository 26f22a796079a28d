import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentView, EstateSnapshot } from '../../app/protocol';
import { UNKNOWN_SITE_KEY, groupBySite, isEstateEmpty } from '../../renderer/lib/estate-groups';
import {
  fingerprintLines,
  formatBytes,
  formatCountdown,
  formatMiB,
} from '../../renderer/lib/format';

const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(
  ':',
);

function agent(key: string, siteId?: string): AgentView {
  return {
    key,
    address: `127.0.0.1:${7000 + key.length}`,
    fingerprint: FP,
    state: siteId ? 'connected' : 'retrying',
    ...(siteId && {
      identity: {
        agentId: `a-${key}`,
        siteId,
        siteName: siteId,
        hostName: 'h',
        version: '1',
        fingerprint: FP,
      },
    }),
  };
}

const host = (name: string, siteId: string) => ({
  hostId: `h-${name}`,
  name,
  hypervisor: 'sim' as const,
  hypervisorVersion: '1',
  agentState: 'installed' as const,
  cpuCores: 8,
  memoryMiB: 65536,
  datastores: [],
  siteId,
  agentKey: 'k',
});

const vm = (name: string, siteId: string) => ({
  vmId: `v-${name}`,
  name,
  hostId: 'h',
  powerState: 'running' as const,
  cpus: 2,
  memoryMiB: 4096,
  guestOs: 'Debian 12',
  nics: [],
  disks: [],
  siteId,
  agentKey: 'k',
});

test('the estate is grouped by site, sorted by name, with unconnected agents last', () => {
  const snapshot: EstateSnapshot = {
    sites: [
      { siteId: 'rdc', name: 'Recovery DC', location: '', contact: '', agentKeys: ['k2'] },
      { siteId: 'hq', name: 'Headquarters', location: '', contact: '', agentKeys: ['k1'] },
    ],
    agents: [agent('k1', 'hq'), agent('k2', 'rdc'), agent('k3')],
    hosts: [host('hq-b', 'hq'), host('rdc-a', 'rdc'), host('hq-a', 'hq')],
    vms: [vm('web-01', 'hq'), vm('db-01', 'hq'), vm('app-01', 'rdc')],
    pairings: [],
    vpgs: [],
  };
  const groups = groupBySite(snapshot);
  assert.deepEqual(
    groups.map((g) => [
      g.key,
      g.agents.map((a) => a.key),
      g.hosts.map((h) => h.name),
      g.vms.map((v) => v.name),
    ]),
    [
      ['hq', ['k1'], ['hq-a', 'hq-b'], ['db-01', 'web-01']],
      ['rdc', ['k2'], ['rdc-a'], ['app-01']],
      [UNKNOWN_SITE_KEY, ['k3'], [], []],
    ],
  );
  assert.equal(isEstateEmpty(snapshot), false);
  assert.equal(
    isEstateEmpty({ sites: [], agents: [], hosts: [], vms: [], pairings: [], vpgs: [] }),
    true,
  );
});

test('sizes read the way an admin expects', () => {
  assert.equal(formatBytes(8 * 1024 ** 3), '8 GiB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GiB');
  assert.equal(formatBytes(2 * 1024 ** 4), '2 TiB');
  assert.equal(formatMiB(192 * 1024), '192 GiB');
  assert.equal(formatCountdown(10_500, 0), '11 s');
  assert.equal(formatCountdown(125_000, 0), '3 min');
  assert.equal(formatCountdown(0, 5_000), '0 s');
});

test('a fingerprint is shown as 4 lines of 8 pairs that join back to the original', () => {
  const lines = fingerprintLines(FP);
  assert.equal(lines.length, 4);
  assert.ok(lines.every((l) => l.split(':').length === 8));
  assert.equal(lines.join(':'), FP);
});
