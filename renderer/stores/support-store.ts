import { create } from 'zustand';
import type { ErrorView } from '../../app/protocol/console-api';
import type { SupportCollection } from '../../app/protocol/console-support-api';
import {
  SUPPORT_CHUNK_MAX_BYTES,
  type SupportInclude,
  type SupportLevel,
} from '../../app/protocol/support-api';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';

export type SupportRange = '1h' | '24h' | '7d';

const RANGE_MS: Record<SupportRange, number> = {
  '1h': 3600_000,
  '24h': 24 * 3600_000,
  '7d': 7 * 24 * 3600_000,
};

interface SupportStore {
  readonly open: boolean;
  readonly agentKeys: readonly string[];
  readonly range: SupportRange;
  readonly level: SupportLevel;
  readonly include: SupportInclude;
  /** The collection under way or ready (its support.progress). */
  readonly collection: SupportCollection | undefined;
  readonly starting: boolean;
  /** 0..1 while the archive is read into the browser to be saved. */
  readonly saving: number | undefined;
  readonly saved: boolean;
  readonly error: ErrorView | undefined;
  /** Opens the dialog with these agents chosen (the connected ones). */
  openDialog(agentKeys: readonly string[]): void;
  close(): void;
  toggleAgent(key: string): void;
  setRange(range: SupportRange): void;
  setLevel(level: SupportLevel): void;
  toggleInclude(part: keyof SupportInclude): void;
  collect(): Promise<void>;
  save(): Promise<void>;
}

const initial = {
  open: false,
  agentKeys: [] as readonly string[],
  range: '24h' as SupportRange,
  level: 'info' as SupportLevel,
  include: { logs: true, state: true, system: true },
  collection: undefined,
  starting: false,
  saving: undefined,
  saved: false,
  error: undefined,
};

let stopProgress: (() => void) | undefined;

/** The "Support bundle…" dialog: what to collect, the collection's progress, the save. */
export const useSupportStore = create<SupportStore>()((set, get) => ({
  ...initial,

  openDialog: (agentKeys) => set({ ...initial, open: true, agentKeys: [...agentKeys] }),

  close: () => {
    const { collection, saving } = get();
    if (saving !== undefined) return;
    stopProgress?.();
    stopProgress = undefined;
    // The archive is no use to anyone once the dialog is closed: free the console's disk.
    if (collection !== undefined) {
      const { collectionId } = collection;
      void attempt(() => consoleConnection().api.support.discard({ collectionId }));
    }
    set({ ...initial });
  },

  toggleAgent: (key) =>
    set((s) => ({
      agentKeys: s.agentKeys.includes(key)
        ? s.agentKeys.filter((k) => k !== key)
        : [...s.agentKeys, key],
    })),
  setRange: (range) => set({ range }),
  setLevel: (level) => set({ level }),
  toggleInclude: (part) => set((s) => ({ include: { ...s.include, [part]: !s.include[part] } })),

  async collect() {
    const { agentKeys, range, level, include, starting } = get();
    if (starting || agentKeys.length === 0) return;
    set({ starting: true, error: undefined, collection: undefined, saved: false });
    const connection = consoleConnection();
    stopProgress?.();
    // Subscribed before the call: a fast collection's first progress must not be missed.
    stopProgress = connection.api.on('support.progress', (c) => {
      const current = get().collection;
      if (current === undefined || current.collectionId === c.collectionId) set({ collection: c });
    });
    const now = Date.now();
    const outcome = await attempt(() =>
      connection.api.support.collect({
        agentKeys: [...agentKeys],
        fromTime: now - RANGE_MS[range],
        toTime: now + 60_000,
        level,
        include,
      }),
    );
    if (!outcome.ok) {
      set({ starting: false, error: outcome.error });
      return;
    }
    // A progress for this collection may have come in before the answer.
    const seen = get().collection;
    set({
      starting: false,
      collection: seen?.collectionId === outcome.value.collectionId ? seen : outcome.value,
    });
  },

  async save() {
    const { collection, saving } = get();
    if (collection?.state !== 'ready' || saving !== undefined) return;
    const { collectionId, bytes = 0, fileName } = collection;
    set({ saving: 0, error: undefined });
    const parts: Uint8Array<ArrayBuffer>[] = [];
    const outcome = await attempt(async () => {
      for (let offset = 0; ;) {
        const chunk = await consoleConnection().api.support.read({
          collectionId,
          offset,
          length: SUPPORT_CHUNK_MAX_BYTES,
        });
        const data = fromBase64(chunk.data);
        parts.push(data);
        offset += data.length;
        set({ saving: bytes === 0 ? 1 : offset / bytes });
        if (chunk.eof || data.length === 0) return;
      }
    });
    if (!outcome.ok) {
      set({ saving: undefined, error: outcome.error });
      return;
    }
    saveBlob(new Blob(parts, { type: 'application/gzip' }), fileName);
    set({ saving: undefined, saved: true });
  },
}));

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Hands the archive to the browser's download: browser mode saves it where the browser
 * saves downloads; Electron asks the admin where, with its save dialog.
 */
function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.style.display = 'none';
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
