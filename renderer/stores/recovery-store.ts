import { create } from 'zustand';
import type { ErrorView, VpgView } from '../../app/protocol/console-api';
import type { ConsoleFailover } from '../../app/protocol/console-recovery-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import type { TestResult } from '../../app/recovery/recovery-schemas';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';
import {
  EMPTY_FAILOVER_FORM,
  FAILOVER_STEPS,
  connectedAgentKeys,
  startParams,
  type FailoverForm,
} from '../lib/recovery';

export const LAST_FAILOVER_STEP = FAILOVER_STEPS.length - 1;

export interface Viewed {
  readonly vpgId: string;
  readonly failoverId?: string;
  /** The task failovers.start answered: its failover is shown once the agent reports it. */
  readonly taskId?: string;
}

export type WizardPreset = Partial<Pick<FailoverForm, 'mode' | 'checkpoint'>>;

/** An operation on a running failover: what, and for which VPG. */
export type FailoverAction = 'commit' | 'rollback' | 'stopTest';

interface RecoveryStore {
  /** By failoverId. */
  readonly failovers: Readonly<Record<string, ConsoleFailover>>;
  readonly loaded: boolean;
  readonly loadError: ErrorView | undefined;
  /** What the live view shows: a VPG's newest failover, a given one, or the one a task starts. */
  readonly viewed: Viewed | undefined;

  readonly wizardOpen: boolean;
  readonly step: number;
  readonly form: FailoverForm;
  readonly stepError: string | undefined;
  readonly checkpoints: readonly CheckpointInfo[];
  readonly checkpointsLoading: boolean;
  readonly checkpointsError: ErrorView | undefined;
  readonly starting: boolean;
  readonly startError: ErrorView | undefined;

  readonly acting: FailoverAction | undefined;
  readonly actionError: ErrorView | undefined;
  readonly stopTestOpen: boolean;

  /** Follows recovery.failover; loads failovers.list when the link opens (tasks: tasks-store). */
  start(): Unsubscribe;
  load(): Promise<void>;
  view(vpgId: string | undefined, failoverId?: string): void;

  /** `preset`: a mode and checkpoint chosen elsewhere (e.g. the last clean point found). */
  openWizard(vpgId?: string, preset?: WizardPreset): void;
  closeWizard(): void;
  patchForm(patch: Partial<FailoverForm>): void;
  goTo(step: number): void;
  setStepError(message: string | undefined): void;
  loadCheckpoints(vpg: VpgView): Promise<void>;
  startFailover(vpg: VpgView): Promise<void>;

  openStopTest(): void;
  closeStopTest(): void;
  stopTest(failover: ConsoleFailover, result: TestResult, note: string): Promise<void>;
  commit(failover: ConsoleFailover): Promise<void>;
  rollback(failover: ConsoleFailover): Promise<void>;
  dismissActionError(): void;
  /** failovers.discardTests; the forgotten failovers leave the list. Throws what the console refused. */
  discardTests(siteId: string, vpgId: string, count: number): Promise<void>;
}

const wizardInitial = {
  step: 0,
  form: EMPTY_FAILOVER_FORM,
  stepError: undefined,
  checkpoints: [],
  checkpointsLoading: false,
  checkpointsError: undefined,
  starting: false,
  startError: undefined,
};

/** The Recovery page: failovers of the connected agents, the failover wizard, the live view. */
export const useRecoveryStore = create<RecoveryStore>()((set, get) => {
  const put = (failover: ConsoleFailover): void =>
    set((s) => ({ failovers: { ...s.failovers, [failover.failoverId]: failover } }));

  const act = async (
    action: FailoverAction,
    call: () => Promise<unknown>,
    after?: () => void,
  ): Promise<void> => {
    if (get().acting !== undefined) return;
    set({ acting: action, actionError: undefined });
    const outcome = await attempt(call);
    set({ acting: undefined, actionError: outcome.ok ? undefined : outcome.error });
    if (outcome.ok) after?.();
  };

  return {
    failovers: {},
    loaded: false,
    loadError: undefined,
    viewed: undefined,
    wizardOpen: false,
    ...wizardInitial,
    acting: undefined,
    actionError: undefined,
    stopTestOpen: false,

    start() {
      const connection = consoleConnection();
      const stopFailovers = connection.api.on('recovery.failover', put);
      const stopStatus = connection.onStatus((status) => {
        if (status.state === 'open') void get().load();
      });
      // The console drops an agent's failovers when it disconnects and loads them again when
      // it is back (main/services/recovery/failover-store.ts), without a recovery.failover for
      // either: reload when the set of connected agents changes.
      let connected: string | undefined;
      const stopEstate = connection.api.on('estate.changed', (snapshot) => {
        const now = connectedAgentKeys(snapshot);
        if (connected !== undefined && now !== connected) void get().load();
        connected = now;
      });
      if (connection.status().state === 'open') void get().load();
      return () => {
        stopFailovers();
        stopStatus();
        stopEstate();
      };
    },

    async load() {
      const outcome = await attempt(() => consoleConnection().api.failovers.list());
      if (!outcome.ok) return set({ loadError: outcome.error });
      const failovers: Record<string, ConsoleFailover> = {};
      for (const f of outcome.value.failovers) failovers[f.failoverId] = f;
      set({ failovers, loaded: true, loadError: undefined });
    },

    view: (vpgId, failoverId) =>
      set({
        viewed:
          vpgId === undefined
            ? undefined
            : { vpgId, ...(failoverId !== undefined && { failoverId }) },
        actionError: undefined,
        stopTestOpen: false,
      }),

    openWizard(vpgId, preset) {
      set({
        wizardOpen: true,
        ...wizardInitial,
        form: { ...EMPTY_FAILOVER_FORM, ...preset, vpgId },
        step: vpgId === undefined ? 0 : 1,
      });
    },
    closeWizard: () => {
      if (!get().starting) set({ wizardOpen: false, ...wizardInitial });
    },
    patchForm: (patch) => {
      const previous = get().form;
      const form = { ...previous, ...patch };
      // Another VPG: its checkpoints and VMs are not the previous one's.
      if (patch.vpgId !== undefined && patch.vpgId !== previous.vpgId) {
        set({
          form: { ...form, checkpoint: { kind: 'latest' }, testVmIds: undefined },
          checkpoints: [],
          stepError: undefined,
        });
      } else set({ form, stepError: undefined });
    },
    goTo: (step) => set({ step, stepError: undefined, startError: undefined }),
    setStepError: (stepError) => set({ stepError }),

    async loadCheckpoints(vpg) {
      set({ checkpointsLoading: true, checkpointsError: undefined });
      // The recovery site answers, with the test results marked; it holds the journal.
      const outcome = await attempt(() =>
        consoleConnection().api.checkpoints.list({ siteId: vpg.recoverySiteId, vpgId: vpg.vpgId }),
      );
      if (get().form.vpgId !== vpg.vpgId) return;
      if (outcome.ok) set({ checkpoints: outcome.value, checkpointsLoading: false });
      else set({ checkpointsLoading: false, checkpointsError: outcome.error });
    },

    async startFailover(vpg) {
      if (get().starting) return;
      set({ starting: true, startError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.failovers.start(startParams(get().form, vpg)),
      );
      if (!outcome.ok) return set({ starting: false, startError: outcome.error });
      set({
        wizardOpen: false,
        ...wizardInitial,
        viewed: { vpgId: vpg.vpgId, taskId: outcome.value.taskId },
        actionError: undefined,
      });
    },

    openStopTest: () => set({ stopTestOpen: true, actionError: undefined }),
    closeStopTest: () => {
      if (get().acting === undefined) set({ stopTestOpen: false });
    },
    stopTest: (failover, result, note) =>
      act(
        'stopTest',
        () =>
          consoleConnection().api.failovers.stopTest({
            siteId: failover.siteId,
            vpgId: failover.vpgId,
            result,
            ...(note.trim() !== '' && { note: note.trim() }),
          }),
        () => set({ stopTestOpen: false }),
      ),
    commit: (failover) =>
      act('commit', () =>
        consoleConnection().api.failovers.commit({
          siteId: failover.siteId,
          vpgId: failover.vpgId,
        }),
      ),
    rollback: (failover) =>
      act('rollback', () =>
        consoleConnection().api.failovers.rollback({
          siteId: failover.siteId,
          vpgId: failover.vpgId,
        }),
      ),
    dismissActionError: () => set({ actionError: undefined }),

    async discardTests(siteId, vpgId, count) {
      const { discarded } = await consoleConnection().api.failovers.discardTests({
        siteId,
        vpgId,
        count,
      });
      set((s) => {
        const failovers = { ...s.failovers };
        for (const id of discarded) delete failovers[id];
        return { failovers };
      });
    },
  };
});

/** Newest first (call it in a useMemo: a new array each time). */
export function failoverList(
  failovers: Readonly<Record<string, ConsoleFailover>>,
): ConsoleFailover[] {
  return Object.values(failovers).sort((a, b) => b.startedAt - a.startedAt);
}
