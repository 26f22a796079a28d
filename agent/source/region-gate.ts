interface InFlight {
  readonly start: number;
  readonly end: number;
  readonly done: Promise<void>;
  readonly finish: () => void;
}

export interface GateTicket {
  /** Resolves when every earlier request overlapping this extent has left; undefined if none. */
  readonly ready: Promise<void> | undefined;
  /** Call once the request's disk write finished (or failed). */
  readonly leave: () => void;
}

/**
 * Orders disk writes per overlapping region, in the order they were sequenced.
 *
 * Records are sequenced and appended in one synchronous step, but their disk writes run in
 * parallel on the thread pool and may land in any order. For writes to disjoint extents the
 * order does not matter (they commute). For overlapping extents it does: the disk must end as
 * the replay of the records in seq order would leave it. So a request enters the gate in the
 * same tick it gets its seq, and waits for every earlier overlapping request still in flight.
 * Per region rather than per disk so that a VM's parallel writes to different places keep
 * their parallelism; the in-flight list is bounded by the VM's queue depth, so a linear scan
 * is cheaper than any interval tree.
 */
export class RegionGate {
  private readonly byDisk = new Map<string, InFlight[]>();

  enter(diskId: string, offset: number, length: number): GateTicket {
    let list = this.byDisk.get(diskId);
    if (list === undefined) {
      list = [];
      this.byDisk.set(diskId, list);
    }
    const start = offset;
    const end = offset + Math.max(length, 1);
    const waits: Promise<void>[] = [];
    for (const other of list) {
      if (other.start < end && start < other.end) waits.push(other.done);
    }
    let finish = (): void => undefined;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const entry: InFlight = { start, end, done, finish };
    list.push(entry);
    const ready =
      waits.length === 0
        ? undefined
        : waits.length === 1
          ? waits[0]
          : Promise.all(waits).then(() => undefined);
    let left = false;
    return {
      ready,
      leave: () => {
        if (left) return;
        left = true;
        const current = this.byDisk.get(diskId);
        if (current !== undefined) {
          const i = current.indexOf(entry);
          if (i >= 0) current.splice(i, 1);
          if (current.length === 0) this.byDisk.delete(diskId);
        }
        entry.finish();
      },
    };
  }

  /** Requests in flight on a disk (for tests and status). */
  inFlight(diskId: string): number {
    return this.byDisk.get(diskId)?.length ?? 0;
  }
}
