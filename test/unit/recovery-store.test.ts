/**
 * The renderer's recovery store follows the console's failovers: the console drops an agent's
 * failovers when it disconnects and reloads them when it is back, with no recovery.failover
 * for either, so the store reloads failovers.list when the connected agents change.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EstateSnapshot } from '../../app/protocol/console-api';
import type { ConsoleFailover } from '../../app/protocol/console-recovery-api';
import { setConsoleConnection, type ConsoleConnection } from '../../renderer/api';
import { useRecoveryStore } from '../../renderer/stores/recovery-store';

const FAILOVER = {
  failoverId: 'f-1',
  vpgId: 'vpg-1',
  vpgName: 'Payroll',
  mode: 'test',
  phase: 'Testing',
  taskId: 't-1',
  checkpoint: { seq: 3, sourceTime: 1 },
  commitPolicy: { kind: 'none' },
  reverseProtection: false,
  vms: [],
  networks: [],
  startedAt: 1,
  siteId: 'dr',
  agentKey: 'a-dr',
} as unknown as ConsoleFailover;

function estate(drState: 'connected' | 'retrying'): EstateSnapshot {
  return {
    agents: [
      { key: 'a-hq', state: 'connected' },
      { key: 'a-dr', state: drState },
    ],
    sites: [],
    hosts: [],
    vms: [],
    pairings: [],
    vpgs: [],
  } as unknown as EstateSnapshot;
}

/** A console link whose failovers.list answers what the console holds now. */
function fakeConnection(): {
  connection: ConsoleConnection;
  held: ConsoleFailover[];
  lists: () => number;
  emit: (event: string, payload: unknown) => void;
} {
  const listeners = new Map<string, ((payload: unknown) => void)[]>();
  const held: ConsoleFailover[] = [];
  let lists = 0;
  const api = {
    on(event: string, listener: (payload: unknown) => void) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return () =>
        listeners.set(
          event,
          (listeners.get(event) ?? []).filter((l) => l !== listener),
        );
    },
    failovers: {
      list: () => {
        lists += 1;
        return Promise.resolve({ failovers: [...held] });
      },
    },
    tasks: { list: () => Promise.resolve({ tasks: [] }) },
  };
  const connection = {
    mode: 'browser',
    api,
    status: () => ({ state: 'open', attempt: 0 }),
    onStatus: () => () => undefined,
    retryNow: () => undefined,
  } as unknown as ConsoleConnection;
  return {
    connection,
    held,
    lists: () => lists,
    emit: (event, payload) => {
      for (const listener of listeners.get(event) ?? []) listener(payload);
    },
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

test('reloads the failovers when an agent disconnects or comes back, not on other changes', async () => {
  const fake = fakeConnection();
  fake.held.push(FAILOVER);
  setConsoleConnection(fake.connection);
  const stop = useRecoveryStore.getState().start();
  try {
    await settle();
    assert.deepEqual(Object.keys(useRecoveryStore.getState().failovers), ['f-1']);
    fake.emit('estate.changed', estate('connected'));
    fake.emit('estate.changed', estate('connected'));
    await settle();
    assert.equal(fake.lists(), 1, 'no reload while the same agents stay connected');

    // The recovery site's agent goes away: the console dropped its failovers.
    fake.held.length = 0;
    fake.emit('estate.changed', estate('retrying'));
    await settle();
    assert.deepEqual(useRecoveryStore.getState().failovers, {});

    // It is back: the console loaded them again.
    fake.held.push(FAILOVER);
    fake.emit('estate.changed', estate('connected'));
    await settle();
    assert.deepEqual(Object.keys(useRecoveryStore.getState().failovers), ['f-1']);
    assert.equal(fake.lists(), 3);
  } finally {
    stop();
  }
});
