import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { PeerSchema } from '../../app/protocol';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

/** A paired agent as persisted: the protocol's Peer without the live link state. */
export const PeerRecordSchema = PeerSchema.omit({ link: true, lastError: true, traffic: true });
export type PeerRecord = z.infer<typeof PeerRecordSchema>;

export const PeersFileSchema = z.strictObject({
  version: z.literal(1),
  peers: z.array(PeerRecordSchema),
});

/**
 * Paired agents, persisted in state/peers.json (written atomically). Mutations are
 * serialized, and a change is visible only once it is durably on disk. A missing file means
 * no peer yet.
 */
export class PeerStore {
  private peers: PeerRecord[] | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly file: string) {}

  async load(): Promise<void> {
    try {
      this.peers = (await readJsonFile(this.file, PeersFileSchema, 'peer list')).peers;
    } catch (err) {
      if (err instanceof TidelineError && err.code === 'NOT_FOUND') this.peers = [];
      else throw err;
    }
  }

  list(): PeerRecord[] {
    return this.current().map((p) => ({ ...p }));
  }

  byAgentId(agentId: string): PeerRecord | undefined {
    const peer = this.current().find((p) => p.agentId === agentId);
    return peer === undefined ? undefined : { ...peer };
  }

  byFingerprint(fingerprint: string): PeerRecord | undefined {
    const peer = this.current().find((p) => p.fingerprint === fingerprint);
    return peer === undefined ? undefined : { ...peer };
  }

  /** Adds a peer; ALREADY_EXISTS if its agent id or fingerprint is already paired. */
  add(record: PeerRecord): Promise<void> {
    return this.mutate((peers) => {
      const existing = peers.find(
        (p) => p.agentId === record.agentId || p.fingerprint === record.fingerprint,
      );
      if (existing !== undefined) {
        throw new TidelineError(
          'ALREADY_EXISTS',
          `Already paired with site "${existing.siteName}" (agent ${existing.agentId}); unpair it first to pair again`,
          { agentId: existing.agentId },
        );
      }
      return [...peers, PeerRecordSchema.parse(record)];
    });
  }

  /** Removes a peer; false if it was not paired. */
  async remove(agentId: string): Promise<boolean> {
    let removed = false;
    await this.mutate((peers) => {
      const next = peers.filter((p) => p.agentId !== agentId);
      removed = next.length !== peers.length;
      return removed ? next : undefined;
    });
    return removed;
  }

  /**
   * Updates what a peer told about itself (address, site name) or the admin's settings of
   * the link; true if anything changed.
   */
  async update(
    agentId: string,
    patch: Partial<Pick<PeerRecord, 'address' | 'siteName' | 'compression'>>,
  ): Promise<boolean> {
    let changed = false;
    await this.mutate((peers) => {
      const index = peers.findIndex((p) => p.agentId === agentId);
      const peer = peers[index];
      if (peer === undefined) return undefined;
      const next = PeerRecordSchema.parse({ ...peer, ...patch });
      const keys = Object.keys(patch) as (keyof typeof patch)[];
      if (keys.every((key) => next[key] === peer[key])) return undefined;
      changed = true;
      return peers.map((p, i) => (i === index ? next : p));
    });
    return changed;
  }

  private current(): PeerRecord[] {
    if (this.peers === undefined) throw new Error('peer store used before load()');
    return this.peers;
  }

  /** Runs `change` in turn; a returned list is written, then becomes the current one. */
  private mutate(change: (peers: PeerRecord[]) => PeerRecord[] | undefined): Promise<void> {
    const run = async (): Promise<void> => {
      const next = change(this.current());
      if (next === undefined) return;
      await writeJsonAtomic(this.file, { version: 1, peers: next });
      this.peers = next;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
