import { create } from 'zustand';
import type { ErrorView, VpgView } from '../../app/protocol/console-api';
import type { ConsoleFailover } from '../../app/protocol/console-recovery-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import type { CleanPointRange } from '../../app/recovery/clean-point';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';
import { useRecoveryStore } from './recovery-store';

/**
 * "Find the last clean point" of one VPG. The search itself is not kept here: it is the
 * checkpoints' test marks at the recovery site (app/recovery/clean-point.ts), so this store
 * only holds the recovery site's checkpoints, the range shown, and a test being started.
 */
interface CleanPointStore {
  readonly isOpen: boolean;
  /** The VPG whose search is open (undefined: not chosen yet), and its recovery site. */
  readonly vpgId: string | undefined;
  readonly siteId: string | undefined;
  readonly checkpoints: readonly CheckpointInfo[];
  readonly loading: boolean;
  readonly loadError: ErrorView | undefined;
  readonly range: CleanPointRange;
  /** The task failovers.start answered last: "starting" until its failover is reported. */
  readonly startedTaskId: string | undefined;
  readonly starting: boolean;
  readonly startError: ErrorView | undefined;

  /** Opens the dialog on a VPG's search, or on a choice of VPG. */
  open(vpg?: VpgView): void;
  close(): void;
  refresh(): Promise<void>;
  setRange(range: CleanPointRange): void;
  /** A test failover of the VPG at checkpoint `seq` (what the wizard's test mode starts). */
  testCheckpoint(vpg: VpgView, seq: number): Promise<void>;
  /** Stops the test with the admin's verdict, recorded on its checkpoint (the Stop test path). */
  verdict(failover: ConsoleFailover, clean: boolean, note: string): Promise<void>;
}

const initial = {
  isOpen: false,
  vpgId: undefined,
  siteId: undefined,
  checkpoints: [],
  loading: false,
  loadError: undefined,
  range: {},
  startedTaskId: undefined,
  starting: false,
  startError: undefined,
};

export const useCleanPointStore = create<CleanPointStore>()((set, get) => {
  let stopFollowing: Unsubscribe | undefined;

  return {
    ...initial,

    open(vpg) {
      stopFollowing?.();
      stopFollowing = undefined;
      if (vpg === undefined) return set({ ...initial, isOpen: true });
      set({ ...initial, isOpen: true, vpgId: vpg.vpgId, siteId: vpg.recoverySiteId });
      // A test of this VPG that ended has just put its verdict on its checkpoint (the agent
      // records it before reporting Stopped): read the marks again, and with them the search.
      stopFollowing = consoleConnection().api.on('recovery.failover', (f) => {
        if (f.vpgId === get().vpgId && f.mode === 'test' && f.phase === 'Stopped')
          void get().refresh();
      });
      void get().refresh();
    },

    close() {
      stopFollowing?.();
      stopFollowing = undefined;
      set({ ...initial });
    },

    async refresh() {
      const { siteId, vpgId } = get();
      if (siteId === undefined || vpgId === undefined) return;
      set({ loading: true });
      // The recovery site answers: it holds the journal, the test marks and the change figures.
      const outcome = await attempt(() =>
        consoleConnection().api.checkpoints.list({ siteId, vpgId }),
      );
      if (get().vpgId !== vpgId) return;
      if (outcome.ok) set({ checkpoints: outcome.value, loading: false, loadError: undefined });
      else set({ loading: false, loadError: outcome.error });
    },

    setRange: (range) => set({ range }),

    async testCheckpoint(vpg, seq) {
      if (get().starting) return;
      set({ starting: true, startError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.failovers.start({
          mode: 'test',
          siteId: vpg.recoverySiteId,
          vpgId: vpg.vpgId,
          checkpoint: { kind: 'seq', seq },
        }),
      );
      if (get().vpgId !== vpg.vpgId) return;
      if (!outcome.ok) return set({ starting: false, startError: outcome.error });
      set({ starting: false, startedTaskId: outcome.value.taskId });
    },

    verdict: (failover, clean, note) =>
      useRecoveryStore.getState().stopTest(failover, clean ? 'Passed' : 'Failed', note),
  };
});
