import { create } from 'zustand';
import type { ErrorView, ProtectionTick, VpgView } from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';

/** One second of a VPG's RPO, for the detail's trend line. */
export interface RpoPoint {
  readonly time: number;
  readonly rpoSeconds: number | undefined;
}

/** How many ticks of history each VPG keeps (one a second). */
export const HISTORY_POINTS = 120;

interface ProtectionStore {
  /** The latest tick of each VPG, and when it arrived here (Date.now()). */
  readonly ticks: Readonly<Record<string, ProtectionTick>>;
  readonly receivedAt: Readonly<Record<string, number>>;
  readonly history: Readonly<Record<string, readonly RpoPoint[]>>;
  /** The VPG whose detail is open. */
  readonly selectedVpgId: string | undefined;
  /** The VPG the admin asked to remove (confirmation open while set). */
  readonly removeTarget: VpgView | undefined;
  readonly removing: boolean;
  readonly removeError: ErrorView | undefined;
  /** The simulated write load last set here per VPG (bytes/s across its VMs; demo lab). */
  readonly load: Readonly<Record<string, number>>;
  readonly loadBusy: boolean;
  readonly loadError: ErrorView | undefined;
  /** Follows protection.tick, and loads the latest ticks whenever the console link opens. */
  start(): Unsubscribe;
  loadTicks(): Promise<void>;
  openVpg(vpgId: string): void;
  closeVpg(): void;
  askRemove(vpg: VpgView): void;
  closeRemove(): void;
  removeVpg(): Promise<void>;
  /** workloads.set on each of the VPG's VMs, sharing `bytesPerSecond` between them. */
  setLoad(vpg: VpgView, bytesPerSecond: number): Promise<void>;
  dismissLoadError(): void;
}

const removeInitial = { removeTarget: undefined, removing: false, removeError: undefined };

/** VPGs' live figures (protection.tick), the open VPG, and removing one. */
export const useProtectionStore = create<ProtectionStore>()((set, get) => {
  const merge = (ticks: readonly ProtectionTick[]): void => {
    if (ticks.length === 0) return;
    const now = Date.now();
    set((s) => {
      const next = { ...s.ticks };
      const receivedAt = { ...s.receivedAt };
      const history = { ...s.history };
      for (const tick of ticks) {
        const known = next[tick.vpgId];
        if (known !== undefined && known.time > tick.time) continue;
        next[tick.vpgId] = tick;
        receivedAt[tick.vpgId] = now;
        if (known?.time === tick.time) continue;
        const points = history[tick.vpgId] ?? [];
        history[tick.vpgId] = [...points, { time: tick.time, rpoSeconds: tick.rpoSeconds }].slice(
          -HISTORY_POINTS,
        );
      }
      return { ticks: next, receivedAt, history };
    });
  };

  return {
    ticks: {},
    receivedAt: {},
    history: {},
    selectedVpgId: undefined,
    ...removeInitial,
    load: {},
    loadBusy: false,
    loadError: undefined,

    start() {
      const connection = consoleConnection();
      const stopTicks = connection.api.on('protection.tick', (p) => merge(p.ticks));
      const stopStatus = connection.onStatus((status) => {
        if (status.state !== 'open') return;
        void get().loadTicks();
      });
      if (connection.status().state === 'open') void get().loadTicks();
      return () => {
        stopTicks();
        stopStatus();
      };
    },

    async loadTicks() {
      const outcome = await attempt(() => consoleConnection().api.protection.ticks());
      if (outcome.ok) merge(outcome.value.ticks);
    },

    openVpg: (vpgId) => set({ selectedVpgId: vpgId }),
    closeVpg: () => set({ selectedVpgId: undefined }),

    askRemove: (vpg) => set({ ...removeInitial, removeTarget: vpg }),
    closeRemove: () => {
      if (!get().removing) set({ ...removeInitial });
    },

    async setLoad(vpg, bytesPerSecond) {
      if (get().loadBusy || vpg.vmIds.length === 0) return;
      set({ loadBusy: true, loadError: undefined });
      const share = Math.round(bytesPerSecond / vpg.vmIds.length);
      const api = consoleConnection().api;
      for (const vmId of vpg.vmIds) {
        const outcome = await attempt(() =>
          api.workloads.set({ siteId: vpg.protectedSiteId, vmId, bytesPerSecond: share }),
        );
        if (!outcome.ok) return set({ loadBusy: false, loadError: outcome.error });
      }
      set((s) => ({ loadBusy: false, load: { ...s.load, [vpg.vpgId]: bytesPerSecond } }));
    },
    dismissLoadError: () => set({ loadError: undefined }),

    async removeVpg() {
      const target = get().removeTarget;
      if (target === undefined || get().removing) return;
      set({ removing: true, removeError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.vpgs.remove({ siteId: target.siteId, vpgId: target.vpgId }),
      );
      if (!outcome.ok) return set({ removing: false, removeError: outcome.error });
      set((s) => ({
        ...removeInitial,
        selectedVpgId: s.selectedVpgId === target.vpgId ? undefined : s.selectedVpgId,
        ticks: without(s.ticks, target.vpgId),
        receivedAt: without(s.receivedAt, target.vpgId),
        history: without(s.history, target.vpgId),
      }));
    },
  };
});

function without<V>(record: Readonly<Record<string, V>>, key: string): Record<string, V> {
  const next = { ...record };
  delete next[key];
  return next;
}

export const selectTick =
  (vpgId: string) =>
  (s: ProtectionStore): ProtectionTick | undefined =>
    s.ticks[vpgId];
export const selectReceivedAt =
  (vpgId: string) =>
  (s: ProtectionStore): number | undefined =>
    s.receivedAt[vpgId];
export const selectHistory =
  (vpgId: string) =>
  (s: ProtectionStore): readonly RpoPoint[] | undefined =>
    s.history[vpgId];
