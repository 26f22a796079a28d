import { create } from 'zustand';
import type { LinkPlanRequest, PlannedVpg, ProfileChoice } from '../../app/planner';
import type { Policy } from '../../app/policy/policy-schemas';
import type { ErrorView, PolicyDraftKey } from '../../app/protocol/console-api';
import type { PlanningContext } from '../../app/protocol/console-planner-api';
import { DEFAULT_RPO_GRACE_SECONDS } from '../../app/alerts/alert-schemas';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';
import { PlannerClient } from '../lib/planner-client';
import type { PlanOutcome } from '../workers/planner-messages';
import { draftKeyOf } from './policies-store';

/**
 * The prediction on the Policies page: the link's planning context (measured rates, kept by
 * the console for offline use), the profiles the admin chose in place of measurements, VPGs
 * planned before they exist, and the plan of the draft against the applied policies, made in
 * a worker.
 */
interface PlannerStore {
  /** The target the context is for (draftKeyOf). */
  readonly key: string | undefined;
  readonly context: PlanningContext | undefined;
  /** Why there is no context (the plan then covers only the planned VPGs). */
  readonly contextError: ErrorView | undefined;
  readonly loading: boolean;
  /** Per VPG id: a synthetic profile in place of its measured one. */
  readonly profiles: Readonly<Record<string, ProfileChoice>>;
  readonly planned: readonly PlannedVpg[];
  readonly outcome: PlanOutcome | undefined;
  /** The outcome is of an older draft; a plan of the current one runs. */
  readonly planning: boolean;
  readonly planError: ErrorView | undefined;
  load(key: PolicyDraftKey, refresh?: boolean): Promise<void>;
  plan(key: PolicyDraftKey, policy: Policy, now: number): Promise<void>;
  setProfile(vpgId: string, choice: ProfileChoice | undefined): void;
  addPlanned(vpg: PlannedVpg): void;
  removePlanned(id: string): void;
}

const client = new PlannerClient();
const api = () => consoleConnection().api;

/** With nothing fetched or kept: plan the planned VPGs alone. */
const EMPTY_CONTEXT: LinkPlanRequest['context'] = {
  vpgs: [],
  graceSeconds: DEFAULT_RPO_GRACE_SECONDS,
};

export const usePlannerStore = create<PlannerStore>()((set, get) => ({
  key: undefined,
  context: undefined,
  contextError: undefined,
  loading: false,
  profiles: {},
  planned: [],
  outcome: undefined,
  planning: false,
  planError: undefined,

  async load(key, refresh) {
    const id = draftKeyOf(key);
    if (get().key !== id) {
      set({
        key: id,
        context: undefined,
        contextError: undefined,
        outcome: undefined,
        planned: [],
      });
    }
    set({ loading: true });
    const outcome = await attempt(() =>
      api().planner.context({ ...key, ...(refresh === true && { refresh }) }),
    );
    if (get().key !== id) return;
    if (outcome.ok) set({ context: outcome.value, contextError: undefined, loading: false });
    else set({ contextError: outcome.error, loading: false });
  },

  async plan(key, policy, now) {
    const { context, profiles, planned } = get();
    if (get().key !== draftKeyOf(key)) return;
    set({ planning: true });
    const result = await client.plan({
      request: {
        context: context ?? EMPTY_CONTEXT,
        draft: { target: key.target, policy },
        profiles,
        planned,
        now,
      },
      ...(key.target.kind === 'vpg' && { adviseVpgId: key.target.vpgId }),
    });
    if (result === undefined || get().key !== draftKeyOf(key)) return; // superseded
    if (result.ok) set({ outcome: result.value, planning: false, planError: undefined });
    else set({ planning: false, planError: result.error });
  },

  setProfile(vpgId, choice) {
    set((s) => {
      const { [vpgId]: _old, ...rest } = s.profiles;
      return { profiles: choice === undefined ? rest : { ...rest, [vpgId]: choice } };
    });
  },

  addPlanned(vpg) {
    set((s) => ({ planned: [...s.planned.filter((p) => p.id !== vpg.id), vpg] }));
  },

  removePlanned(id) {
    set((s) => ({ planned: s.planned.filter((p) => p.id !== id) }));
  },
}));
