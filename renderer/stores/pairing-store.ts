import { create } from 'zustand';
import type { ErrorView, SitePairing, SitesUnpairResult } from '../../app/protocol/console-api';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';

export type PairField = 'protectedSiteId' | 'recoverySiteId';

interface PairingStore {
  /** The "Pair sites" dialog. */
  readonly pairOpen: boolean;
  readonly protectedSiteId: string;
  readonly recoverySiteId: string;
  readonly pairing: boolean;
  readonly pairError: ErrorView | undefined;
  /** What sites.pair answered; the dialog then follows the link in the estate. */
  readonly paired: SitePairing | undefined;
  openPair(): void;
  closePair(): void;
  choose(field: PairField, siteId: string): void;
  pair(): Promise<void>;

  /** The pairing the admin asked to unpair (confirmation dialog open while set). */
  readonly unpairTarget: SitePairing | undefined;
  readonly unpairing: boolean;
  readonly unpairError: ErrorView | undefined;
  /** Kept open only when a side was offline: the admin should read what is left to do. */
  readonly unpairResult: SitesUnpairResult | undefined;
  askUnpair(pairing: SitePairing): void;
  closeUnpair(): void;
  unpair(): Promise<void>;

  /** Pairings (by pairingKey) whose compression is being set. */
  readonly compressing: ReadonlySet<string>;
  /** Why setting a pairing's compression failed, by pairingKey. */
  readonly compressionErrors: ReadonlyMap<string, ErrorView>;
  setCompression(pairing: SitePairing, on: boolean): Promise<void>;
}

/** One pairing's key, the same whichever site comes first. */
export function pairingKey(pairing: Pick<SitePairing, 'siteId' | 'peerSiteId'>): string {
  return [pairing.siteId, pairing.peerSiteId].sort().join('\u0000');
}

const pairInitial = {
  pairOpen: false,
  protectedSiteId: '',
  recoverySiteId: '',
  pairing: false,
  pairError: undefined,
  paired: undefined,
};

const unpairInitial = {
  unpairTarget: undefined,
  unpairing: false,
  unpairError: undefined,
  unpairResult: undefined,
};

/** Site pairing: the "Pair sites" dialog and the unpair confirmation. */
export const usePairingStore = create<PairingStore>()((set, get) => ({
  ...pairInitial,
  ...unpairInitial,
  compressing: new Set<string>(),
  compressionErrors: new Map<string, ErrorView>(),

  openPair: () => set({ ...pairInitial, pairOpen: true }),
  closePair: () => {
    if (!get().pairing) set({ ...pairInitial });
  },
  choose: (field, siteId) =>
    set((s) => {
      // The two selects never hold the same site: choosing it in one clears the other.
      const other: PairField = field === 'protectedSiteId' ? 'recoverySiteId' : 'protectedSiteId';
      return {
        [field]: siteId,
        [other]: s[other] === siteId ? '' : s[other],
        pairError: undefined,
        paired: undefined,
      };
    }),

  async pair() {
    const { protectedSiteId, recoverySiteId, pairing } = get();
    if (pairing || protectedSiteId === '' || recoverySiteId === '') return;
    if (protectedSiteId === recoverySiteId) return;
    set({ pairing: true, pairError: undefined, paired: undefined });
    const outcome = await attempt(() =>
      consoleConnection().api.sites.pair({ siteId: protectedSiteId, peerSiteId: recoverySiteId }),
    );
    if (outcome.ok) set({ pairing: false, paired: outcome.value });
    else set({ pairing: false, pairError: outcome.error });
  },

  askUnpair: (pairing) => set({ ...unpairInitial, unpairTarget: pairing }),
  closeUnpair: () => {
    if (!get().unpairing) set({ ...unpairInitial });
  },

  async unpair() {
    const target = get().unpairTarget;
    if (target === undefined || get().unpairing) return;
    set({ unpairing: true, unpairError: undefined });
    const outcome = await attempt(() =>
      consoleConnection().api.sites.unpair({
        siteId: target.siteId,
        peerSiteId: target.peerSiteId,
      }),
    );
    if (!outcome.ok) set({ unpairing: false, unpairError: outcome.error });
    else if (outcome.value.unreachable.length > 0)
      set({ unpairing: false, unpairResult: outcome.value });
    else set({ ...unpairInitial });
  },

  async setCompression(pairing, on) {
    const key = pairingKey(pairing);
    if (get().compressing.has(key)) return;
    const errors = new Map(get().compressionErrors);
    errors.delete(key);
    set({ compressing: new Set(get().compressing).add(key), compressionErrors: errors });
    const outcome = await attempt(() =>
      consoleConnection().api.sites.setLinkCompression({
        siteId: pairing.siteId,
        peerSiteId: pairing.peerSiteId,
        compression: on ? 'lz4' : 'off',
      }),
    );
    const compressing = new Set(get().compressing);
    compressing.delete(key);
    if (outcome.ok) set({ compressing });
    else set({ compressing, compressionErrors: new Map(errors).set(key, outcome.error) });
  },
}));

/** Why "Pair" cannot be pressed yet, or undefined when it can. */
export function selectPairBlocker(s: PairingStore): string | undefined {
  if (s.protectedSiteId === '') return 'Choose the protected site';
  if (s.recoverySiteId === '') return 'Choose the recovery site';
  if (s.protectedSiteId === s.recoverySiteId) return 'Choose two different sites';
  return undefined;
}
