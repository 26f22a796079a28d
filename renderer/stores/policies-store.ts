import { create } from 'zustand';
import { diffPolicies, type PolicyDiff } from '../../app/policy/diff';
import { validatePolicy } from '../../app/policy/policy';
import {
  POLICY_SCHEMA_VERSION,
  type Policy,
  type PolicyTarget,
} from '../../app/policy/policy-schemas';
import type { ErrorView, PolicyDraft, PolicyDraftKey } from '../../app/protocol/console-api';
import type { PolicyRecord } from '../../app/protocol/policy-api';
import { consoleConnection } from '../api';
import { attempt, type Outcome } from '../lib/errors';

/** The key of one draft: agent and target. */
export function draftKeyOf(k: PolicyDraftKey): string {
  const t: PolicyTarget = k.target;
  return t.kind === 'link' ? `${k.agentId}/link/${t.peerAgentId}` : `${k.agentId}/vpg/${t.vpgId}`;
}

export function adminTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function emptyPolicy(timeZone: string): Policy {
  return {
    schemaVersion: POLICY_SCHEMA_VERSION,
    version: 0,
    timeZone,
    default: { rpoTargetSeconds: 300 },
    timeframes: [],
  };
}

/** The apply dialog: the agent's policy, the diff, and a version conflict if there is one. */
export interface ApplyState {
  readonly loading: boolean;
  readonly current?: PolicyRecord;
  readonly diff?: PolicyDiff;
  /** The agent's version differs from the draft's base: apply would be refused. */
  readonly conflict?: { readonly baseVersion: number; readonly agentVersion: number };
  readonly error?: ErrorView;
  readonly applying: boolean;
  readonly applied?: PolicyRecord;
}

interface PoliciesStore {
  readonly drafts: readonly PolicyDraft[];
  readonly loadError: ErrorView | undefined;
  readonly selected: PolicyDraftKey | undefined;
  /** The selected target's name, kept with its draft for when the target is offline. */
  readonly selectedLabel: string | undefined;
  /** The policy being edited for the selected target (the draft's, or where a new one starts). */
  readonly policy: Policy | undefined;
  /** The agent's version a new draft starts from. */
  readonly baseVersion: number;
  /** The agent's policy is being fetched for a target with no draft (it may be the start). */
  readonly loadingCurrent: boolean;
  /** The last edit refused (overlap, …) or a save that failed. */
  readonly refusal: string | undefined;
  readonly apply: ApplyState | undefined;
  loadDrafts(): Promise<void>;
  select(key: PolicyDraftKey, label?: string): Promise<void>;
  /** Validates and saves the edited policy as the draft; a refused edit returns the message. */
  edit(change: (p: Policy) => Policy): Promise<Outcome<Policy>>;
  dismissRefusal(): void;
  discard(): Promise<void>;
  openApply(): Promise<void>;
  rebase(): Promise<void>;
  confirmApply(): Promise<void>;
  closeApply(): void;
}

const api = () => consoleConnection().api;

export const usePoliciesStore = create<PoliciesStore>()((set, get) => {
  const draftOf = (key: PolicyDraftKey): PolicyDraft | undefined =>
    get().drafts.find((d) => draftKeyOf(d) === draftKeyOf(key));
  const isSelected = (key: PolicyDraftKey): boolean => {
    const sel = get().selected;
    return sel !== undefined && draftKeyOf(sel) === draftKeyOf(key);
  };
  const loadApply = async (key: PolicyDraftKey): Promise<void> => {
    const draft = draftOf(key);
    if (draft === undefined) return;
    set({ apply: { loading: true, applying: false } });
    const outcome = await attempt(() => api().policies.current(key));
    if (!isSelected(key)) return;
    if (!outcome.ok) {
      set({ apply: { loading: false, applying: false, error: outcome.error } });
      return;
    }
    const agentVersion = outcome.value.policy?.version ?? 0;
    set({
      apply: {
        loading: false,
        applying: false,
        current: outcome.value,
        diff: diffPolicies(outcome.value.policy, draft.policy),
        ...(agentVersion !== draft.baseVersion && {
          conflict: { baseVersion: draft.baseVersion, agentVersion },
        }),
      },
    });
  };

  return {
    drafts: [],
    loadError: undefined,
    selected: undefined,
    selectedLabel: undefined,
    policy: undefined,
    baseVersion: 0,
    loadingCurrent: false,
    refusal: undefined,
    apply: undefined,

    async loadDrafts() {
      const outcome = await attempt(() => api().policies.drafts());
      if (outcome.ok) set({ drafts: outcome.value, loadError: undefined });
      else set({ loadError: outcome.error });
    },

    async select(key, label) {
      const draft = draftOf(key);
      set({
        selected: key,
        selectedLabel: label ?? draft?.label,
        refusal: undefined,
        apply: undefined,
        loadingCurrent: false,
      });
      if (draft !== undefined) {
        set({ policy: draft.policy, baseVersion: draft.baseVersion });
        return;
      }
      // No draft yet: start from the agent's policy if it is reachable, else from scratch.
      set({ policy: emptyPolicy(adminTimeZone()), baseVersion: 0, loadingCurrent: true });
      const outcome = await attempt(() => api().policies.current(key));
      if (!isSelected(key)) return;
      set({ loadingCurrent: false });
      if (draftOf(key) !== undefined) return;
      if (outcome.ok && outcome.value.policy !== undefined) {
        set({ policy: outcome.value.policy, baseVersion: outcome.value.policy.version });
      }
    },

    async edit(change) {
      const { selected, selectedLabel, policy, baseVersion } = get();
      if (selected === undefined || policy === undefined) {
        return { ok: false, error: { code: 'INVALID_PARAMS', message: 'Pick a target first.' } };
      }
      const next = change(policy);
      const { issues } = validatePolicy(next);
      if (issues.length > 0) {
        const message = issues.map((i) => i.message).join(' ');
        set({ refusal: message });
        return { ok: false, error: { code: 'INVALID_PARAMS', message } };
      }
      set({ policy: next, refusal: undefined });
      const outcome = await attempt(() =>
        api().policies.saveDraft({
          ...selected,
          policy: next,
          baseVersion,
          ...(selectedLabel !== undefined && { label: selectedLabel }),
        }),
      );
      if (!outcome.ok) {
        set({ policy, refusal: outcome.error.message });
        return { ok: false, error: outcome.error };
      }
      const saved = outcome.value;
      set((s) => ({
        drafts: [...s.drafts.filter((d) => draftKeyOf(d) !== draftKeyOf(saved)), saved],
      }));
      return { ok: true, value: next };
    },

    dismissRefusal() {
      set({ refusal: undefined });
    },

    async discard() {
      const { selected } = get();
      if (selected === undefined) return;
      const outcome = await attempt(() => api().policies.discardDraft(selected));
      if (!outcome.ok) {
        set({ refusal: outcome.error.message });
        return;
      }
      set((s) => ({ drafts: s.drafts.filter((d) => draftKeyOf(d) !== draftKeyOf(selected)) }));
      await get().select(selected);
    },

    async openApply() {
      const { selected } = get();
      if (selected !== undefined) await loadApply(selected);
    },

    async rebase() {
      const { selected } = get();
      if (selected === undefined) return;
      const outcome = await attempt(() => api().policies.rebase(selected));
      if (!outcome.ok) {
        set((s) => ({
          apply: { ...(s.apply ?? { loading: false, applying: false }), error: outcome.error },
        }));
        return;
      }
      const rebased = outcome.value;
      set((s) => ({
        drafts: [...s.drafts.filter((d) => draftKeyOf(d) !== draftKeyOf(rebased)), rebased],
        baseVersion: rebased.baseVersion,
      }));
      await loadApply(selected);
    },

    async confirmApply() {
      const { selected, apply } = get();
      if (selected === undefined || apply === undefined) return;
      set({ apply: { ...apply, applying: true } });
      const outcome = await attempt(() => api().policies.apply(selected));
      if (!outcome.ok) {
        set({ apply: { ...apply, applying: false, error: outcome.error } });
        return;
      }
      const applied = outcome.value;
      set((s) => ({
        apply: { ...apply, applying: false, applied },
        drafts: s.drafts.filter((d) => draftKeyOf(d) !== draftKeyOf(selected)),
        ...(applied.policy && { policy: applied.policy, baseVersion: applied.policy.version }),
      }));
    },

    closeApply() {
      set({ apply: undefined });
    },
  };
});
