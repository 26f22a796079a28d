import type { VpgState, VpgStatus } from '../../app/protocol';
import type { Logger } from '../log';
import { drop } from '../util/drop';

export interface StatusPublisherOptions {
  /** The VPG's live state, or undefined once it is gone. */
  readonly state: (vpgId: string) => VpgState | undefined;
  /** vpg.status to the consoles. */
  readonly notify: (change: { vpgId: string; status: VpgStatus; message?: string }) => void;
  /** Keeps the status in the store (on status changes only, not message changes). */
  readonly persist: (vpgId: string, status: VpgStatus) => Promise<unknown>;
  readonly log: Logger;
}

/**
 * Sends `vpg.status` when a VPG's status or its message changed (checked on every change
 * the VPG reports and once a second), logs status changes and keeps them in the store.
 */
export class StatusPublisher {
  private readonly published = new Map<string, { status: VpgStatus; message: string }>();

  constructor(private readonly options: StatusPublisherOptions) {}

  publish(vpgId: string): void {
    const { log } = this.options;
    const current = this.options.state(vpgId);
    if (current === undefined) return;
    const before = this.published.get(vpgId);
    const message = current.statusMessage ?? '';
    if (before?.status === current.status && before.message === message) return;
    this.published.set(vpgId, { status: current.status, message });
    try {
      this.options.notify({
        vpgId,
        status: current.status,
        ...(current.statusMessage !== undefined && { message: current.statusMessage }),
      });
    } catch (err) {
      log.error({ err, vpgId }, 'cannot notify a VPG status');
    }
    if (before?.status === current.status) return;
    log.info({ vpgId, status: current.status, message: current.statusMessage }, 'VPG status');
    drop(this.options.persist(vpgId, current.status), (err) =>
      log.warn({ err, vpgId }, 'cannot save the VPG status'),
    );
  }

  forget(vpgId: string): void {
    this.published.delete(vpgId);
  }
}
