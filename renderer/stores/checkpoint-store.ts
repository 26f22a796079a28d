import { create } from 'zustand';
import type { ErrorView } from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import type { CheckpointInfo } from '../../app/vpg/vpg-schemas';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';

/** The VPG whose checkpoints are shown, and the site whose agent is asked. */
export interface CheckpointTarget {
  readonly siteId: string;
  readonly vpgId: string;
  /**
   * The VPG's recovery site, asked too when it is not `siteId`: only it has the change figures
   * and test verdicts of the checkpoints (it holds the journal).
   */
  readonly recoverySiteId?: string;
}

/** An inserted checkpoint followed until the recovery site confirms it. */
export interface Followed {
  readonly seq: number;
  readonly name: string;
  readonly state: 'pending' | 'confirmed' | 'failed';
  readonly error?: ErrorView;
  /** Date.now() when confirmed here. */
  readonly confirmedAt?: number;
}

/** How often the list is fetched again while a VPG's detail is open (automatic checkpoints). */
export const CHECKPOINT_POLL_MS = 5_000;
/** One checkpoints.waitFor call; a TIMEOUT is followed by another, up to WAIT_ROUNDS. */
const WAIT_MS = 30_000;
const WAIT_ROUNDS = 10;

interface CheckpointStore {
  readonly target: CheckpointTarget | undefined;
  readonly items: readonly CheckpointInfo[];
  readonly loading: boolean;
  readonly loadError: ErrorView | undefined;
  /** Checkpoints inserted here, by seq. */
  readonly followed: Readonly<Record<number, Followed>>;
  readonly insertOpen: boolean;
  readonly insertName: string;
  readonly inserting: boolean;
  readonly insertError: ErrorView | undefined;
  /** Loads a VPG's checkpoints now and every CHECKPOINT_POLL_MS until the unsubscribe. */
  follow(target: CheckpointTarget): Unsubscribe;
  refresh(): Promise<void>;
  openInsert(): void;
  closeInsert(): void;
  setInsertName(name: string): void;
  /** checkpoints.insert, then checkpoints.waitFor until the recovery site confirms it. */
  insert(): Promise<void>;
  dismissFollowed(seq: number): void;
}

const insertInitial = {
  insertOpen: false,
  insertName: '',
  inserting: false,
  insertError: undefined,
};

const sameTarget = (a: CheckpointTarget | undefined, b: CheckpointTarget): boolean =>
  a !== undefined && a.siteId === b.siteId && a.vpgId === b.vpgId;

/** A VPG's checkpoints, the "Insert checkpoint" dialog, and following inserted ones. */
export const useCheckpointStore = create<CheckpointStore>()((set, get) => {
  const setFollowed = (target: CheckpointTarget, f: Followed): void => {
    if (!sameTarget(get().target, target)) return;
    set((s) => ({ followed: { ...s.followed, [f.seq]: f } }));
  };
  const upsert = (target: CheckpointTarget, checkpoint: CheckpointInfo): void => {
    if (!sameTarget(get().target, target)) return;
    set((s) => {
      const items = s.items.filter((c) => c.seq !== checkpoint.seq);
      items.push(checkpoint);
      items.sort((a, b) => a.seq - b.seq);
      return { items };
    });
  };

  const waitConfirmed = async (target: CheckpointTarget, checkpoint: CheckpointInfo) => {
    const name = checkpoint.name ?? '';
    for (let round = 0; round < WAIT_ROUNDS; round += 1) {
      const outcome = await attempt(() =>
        consoleConnection().api.checkpoints.waitFor({
          siteId: target.siteId,
          vpgId: target.vpgId,
          seq: checkpoint.seq,
          timeoutMs: WAIT_MS,
        }),
      );
      if (outcome.ok) {
        upsert(target, outcome.value);
        const at = Date.now();
        return setFollowed(target, {
          seq: checkpoint.seq,
          name,
          state: 'confirmed',
          confirmedAt: at,
        });
      }
      if (outcome.error.code !== 'TIMEOUT' || !sameTarget(get().target, target))
        return setFollowed(target, {
          seq: checkpoint.seq,
          name,
          state: 'failed',
          error: outcome.error,
        });
    }
    setFollowed(target, {
      seq: checkpoint.seq,
      name,
      state: 'failed',
      error: {
        code: 'TIMEOUT',
        message:
          'The recovery site has not confirmed this checkpoint yet. Check the link between the sites.',
      },
    });
  };

  return {
    target: undefined,
    items: [],
    loading: false,
    loadError: undefined,
    followed: {},
    ...insertInitial,

    follow(target) {
      if (!sameTarget(get().target, target))
        set({ target, items: [], loadError: undefined, followed: {}, ...insertInitial });
      void get().refresh();
      const timer = window.setInterval(() => void get().refresh(), CHECKPOINT_POLL_MS);
      return () => window.clearInterval(timer);
    },

    async refresh() {
      const target = get().target;
      if (target === undefined) return;
      set({ loading: true });
      const { siteId, vpgId, recoverySiteId } = target;
      const api = consoleConnection().api;
      const [outcome, recovery] = await Promise.all([
        attempt(() => api.checkpoints.list({ siteId, vpgId })),
        recoverySiteId === undefined || recoverySiteId === siteId
          ? undefined
          : attempt(() => api.checkpoints.list({ siteId: recoverySiteId, vpgId })),
      ]);
      if (!sameTarget(get().target, target)) return;
      // Without the recovery site's answer the list is still right, only without figures.
      const items =
        outcome.ok && recovery?.ok === true
          ? withRecoveryFacts(outcome.value, recovery.value)
          : undefined;
      if (outcome.ok) set({ items: items ?? outcome.value, loading: false, loadError: undefined });
      else set({ loading: false, loadError: outcome.error });
    },

    openInsert: () => set({ ...insertInitial, insertOpen: true }),
    closeInsert: () => {
      if (!get().inserting) set({ ...insertInitial });
    },
    setInsertName: (insertName) => set({ insertName, insertError: undefined }),

    async insert() {
      const { target, insertName, inserting } = get();
      const name = insertName.trim();
      if (target === undefined || inserting || name === '') return;
      set({ inserting: true, insertError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.checkpoints.insert({
          siteId: target.siteId,
          vpgId: target.vpgId,
          name,
        }),
      );
      if (!outcome.ok) return set({ inserting: false, insertError: outcome.error });
      set({ ...insertInitial });
      const checkpoint = outcome.value;
      upsert(target, checkpoint);
      if (checkpoint.confirmed) {
        const at = Date.now();
        return setFollowed(target, {
          seq: checkpoint.seq,
          name,
          state: 'confirmed',
          confirmedAt: at,
        });
      }
      setFollowed(target, { seq: checkpoint.seq, name, state: 'pending' });
      await waitConfirmed(target, checkpoint);
    },

    dismissFollowed: (seq) =>
      set((s) => {
        const followed = { ...s.followed };
        delete followed[seq];
        return { followed };
      }),
  };
});

/** The protected site's checkpoints with the recovery site's figures and verdicts, by seq. */
function withRecoveryFacts(
  own: readonly CheckpointInfo[],
  recovery: readonly CheckpointInfo[],
): CheckpointInfo[] {
  const bySeq = new Map(recovery.map((c) => [c.seq, c]));
  return own.map((c) => {
    const r = bySeq.get(c.seq);
    if (r === undefined) return c;
    return {
      ...c,
      ...(r.change !== undefined && { change: r.change }),
      ...(r.tested !== undefined && { tested: r.tested }),
    };
  });
}
