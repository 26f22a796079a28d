import { create } from 'zustand';
import type { AgentView, EstateSnapshot, ErrorView } from '../../app/protocol/console-api';
import type { SiteDetailsPatch } from '../../app/protocol/inventory';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { consoleConnection } from '../api';
import { attempt, type Outcome } from '../lib/errors';

export type AgentAction = 'reconnecting' | 'removing';

interface EstateStore {
  readonly snapshot: EstateSnapshot | undefined;
  readonly loadError: ErrorView | undefined;
  /** An action under way per agent key, to disable its buttons. */
  readonly agentActions: Readonly<Record<string, AgentAction>>;
  /** The last failed action per agent key (a "Retry now" that failed at once, say). */
  readonly agentActionErrors: Readonly<Record<string, ErrorView>>;
  /** Loads the estate whenever the console link opens and follows estate.changed. */
  start(): Unsubscribe;
  refresh(): Promise<void>;
  reconnectAgent(key: string): Promise<void>;
  removeAgent(key: string): Promise<Outcome>;
  setSiteDetails(siteId: string, patch: SiteDetailsPatch): Promise<Outcome>;
  dismissAgentError(key: string): void;
}

export const useEstateStore = create<EstateStore>()((set, get) => {
  const setAction = (key: string, action: AgentAction | undefined): void =>
    set((s) => ({ agentActions: withEntry(s.agentActions, key, action) }));
  const setActionError = (key: string, error: ErrorView | undefined): void =>
    set((s) => ({ agentActionErrors: withEntry(s.agentActionErrors, key, error) }));

  return {
    snapshot: undefined,
    loadError: undefined,
    agentActions: {},
    agentActionErrors: {},

    start() {
      const connection = consoleConnection();
      const stopEstate = connection.api.on('estate.changed', (snapshot) =>
        set({ snapshot, loadError: undefined }),
      );
      const stopStatus = connection.onStatus((status) => {
        if (status.state === 'open') void get().refresh();
      });
      if (connection.status().state === 'open') void get().refresh();
      return () => {
        stopEstate();
        stopStatus();
      };
    },

    async refresh() {
      const outcome = await attempt(() => consoleConnection().api.estate.get());
      if (outcome.ok) set({ snapshot: outcome.value, loadError: undefined });
      else set({ loadError: outcome.error });
    },

    async reconnectAgent(key) {
      setAction(key, 'reconnecting');
      setActionError(key, undefined);
      const outcome = await attempt(() => consoleConnection().api.agents.reconnect({ key }));
      setAction(key, undefined);
      if (outcome.ok) set((s) => ({ snapshot: withAgent(s.snapshot, outcome.value) }));
      else setActionError(key, outcome.error);
    },

    async removeAgent(key) {
      setAction(key, 'removing');
      const outcome = await attempt(() => consoleConnection().api.agents.remove({ key }));
      setAction(key, undefined);
      if (outcome.ok) {
        setActionError(key, undefined);
        await get().refresh();
        return { ok: true, value: undefined };
      }
      return outcome;
    },

    async setSiteDetails(siteId, patch) {
      const outcome = await attempt(() =>
        consoleConnection().api.sites.setDetails({ siteId, patch }),
      );
      if (!outcome.ok) return outcome;
      const site = outcome.value;
      set((s) => ({
        snapshot: s.snapshot && {
          ...s.snapshot,
          sites: s.snapshot.sites.map((old) => (old.siteId === site.siteId ? site : old)),
        },
      }));
      return { ok: true, value: undefined };
    },

    dismissAgentError(key) {
      setActionError(key, undefined);
    },
  };
});

function withEntry<V>(
  record: Readonly<Record<string, V>>,
  key: string,
  value: V | undefined,
): Record<string, V> {
  const next = { ...record };
  if (value === undefined) delete next[key];
  else next[key] = value;
  return next;
}

function withAgent(
  snapshot: EstateSnapshot | undefined,
  agent: AgentView,
): EstateSnapshot | undefined {
  if (snapshot === undefined) return undefined;
  return { ...snapshot, agents: snapshot.agents.map((a) => (a.key === agent.key ? agent : a)) };
}

export const selectSnapshot = (s: EstateStore): EstateSnapshot | undefined => s.snapshot;
export const selectLoadError = (s: EstateStore): ErrorView | undefined => s.loadError;
export const selectAgentAction =
  (key: string) =>
  (s: EstateStore): AgentAction | undefined =>
    s.agentActions[key];
export const selectAgentActionError =
  (key: string) =>
  (s: EstateStore): ErrorView | undefined =>
    s.agentActionErrors[key];
