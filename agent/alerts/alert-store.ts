import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AlertSchema, type Alert, type AlertKind } from '../../app/alerts/alert-schemas';
import { TidelineError } from '../../app/errors';
import type { Logger } from '../log';
import { writeJsonAtomic } from '../store/atomic-file';
import { drop } from '../util/drop';

const AlertFileSchema = z.object({ version: z.literal(1), alerts: z.array(AlertSchema) });

export const DEFAULT_ALERT_HISTORY = 1000;
/** Worst-RPO updates of a raised alert are written at most this often (raise/clear/ack at once). */
const LAZY_SAVE_MS = 5_000;

export interface AlertStoreOptions {
  readonly file: string;
  readonly log: Logger;
  /** alert.raised / alert.cleared to the consoles. */
  readonly notify?: (event: 'raised' | 'cleared', alert: Alert) => void;
  /** Alerts kept (newest); older cleared ones are dropped first. Default 1000. */
  readonly maxAlerts?: number;
  readonly now?: () => number;
}

export interface AlertFilter {
  readonly vpgId?: string;
  readonly kind?: AlertKind;
  readonly state?: 'raised' | 'cleared';
  readonly limit?: number;
}

export type NewAlert = Omit<Alert, 'alertId' | 'raisedAt' | 'clearedAt' | 'acknowledgedAt'>;

/**
 * The agent's alerts, raised and cleared, persisted atomically in state/alerts.json with a
 * bounded history. Writes are serialized; a failed write is logged and retried by the next.
 */
export class AlertStore {
  private alerts: Alert[] = [];
  private writing: Promise<void> = Promise.resolve();
  private lazyTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: AlertStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const parsed = AlertFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      // Alerts are a record for the admin, not state replication depends on: start afresh.
      this.options.log.error(
        { file: this.options.file, issues: parsed.error.issues.slice(0, 3) },
        'the alerts file is not valid: starting with no alerts',
      );
      return;
    }
    this.alerts = parsed.data.alerts;
  }

  /** The raised (not cleared) alert of a kind for a VPG, if any. */
  open(kind: AlertKind, vpgId: string): Alert | undefined {
    return this.alerts.find(
      (a) => a.kind === kind && a.vpgId === vpgId && a.clearedAt === undefined,
    );
  }

  /**
   * Raises an alert: in memory and notified at once (callers judging ticks need no await);
   * the write follows, in order with the others.
   */
  raise(fields: NewAlert, raisedAt: number = this.now()): Alert {
    const alert: Alert = { ...fields, alertId: randomUUID(), raisedAt };
    this.alerts.push(alert);
    this.trim();
    this.saveSoon();
    this.emit('raised', alert);
    return { ...alert };
  }

  /** Changes a raised alert's details (worst RPO, message) without a notification. */
  update(alertId: string, patch: Partial<Pick<Alert, 'worstRpoSeconds' | 'message'>>): void {
    const alert = this.get(alertId);
    Object.assign(alert, patch);
    this.saveLater();
  }

  /** Clears a raised alert (as raise: at once, written after). */
  clear(
    alertId: string,
    clearedAt: number = this.now(),
    patch: Partial<Pick<Alert, 'worstRpoSeconds' | 'message'>> = {},
  ): Alert {
    const alert = this.get(alertId);
    if (alert.clearedAt !== undefined) return { ...alert };
    Object.assign(alert, patch, { clearedAt });
    this.saveSoon();
    this.emit('cleared', alert);
    return { ...alert };
  }

  async ack(alertId: string): Promise<Alert> {
    const alert = this.get(alertId);
    if (alert.acknowledgedAt === undefined) {
      alert.acknowledgedAt = this.now();
      await this.save();
    }
    return { ...alert };
  }

  /** Newest first. */
  list(filter: AlertFilter = {}): Alert[] {
    const limit = filter.limit ?? 200;
    const out: Alert[] = [];
    for (let i = this.alerts.length - 1; i >= 0 && out.length < limit; i -= 1) {
      const a = this.alerts[i]!;
      if (filter.vpgId !== undefined && a.vpgId !== filter.vpgId) continue;
      if (filter.kind !== undefined && a.kind !== filter.kind) continue;
      if (filter.state === 'raised' && a.clearedAt !== undefined) continue;
      if (filter.state === 'cleared' && a.clearedAt === undefined) continue;
      out.push({ ...a });
    }
    return out;
  }

  /** Writes pending changes (at stop). */
  async stop(): Promise<void> {
    if (this.lazyTimer === undefined) return this.writing;
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    await this.save();
  }

  private get(alertId: string): Alert {
    const alert = this.alerts.find((a) => a.alertId === alertId);
    if (alert === undefined) {
      throw new TidelineError('NOT_FOUND', `Alert ${alertId} is not on this agent`, { alertId });
    }
    return alert;
  }

  /** Past the bound, the oldest cleared alerts go first; raised ones only if nothing else. */
  private trim(): void {
    const max = this.options.maxAlerts ?? DEFAULT_ALERT_HISTORY;
    while (this.alerts.length > max) {
      const i = this.alerts.findIndex((a) => a.clearedAt !== undefined);
      this.alerts.splice(i === -1 ? 0 : i, 1);
    }
  }

  private save(): Promise<void> {
    if (this.lazyTimer !== undefined) {
      clearTimeout(this.lazyTimer);
      this.lazyTimer = undefined;
    }
    const write = async (): Promise<void> => {
      await writeJsonAtomic(this.options.file, { version: 1, alerts: this.alerts });
    };
    const next = this.writing.then(write, write);
    this.writing = next.catch((err: unknown) =>
      this.options.log.error({ err, file: this.options.file }, 'cannot save the alerts'),
    );
    return next;
  }

  /** Waits for the writes started so far (tests, stop). */
  flushed(): Promise<void> {
    return this.writing;
  }

  private saveSoon(): void {
    drop(this.save(), () => undefined);
  }

  private saveLater(): void {
    if (this.lazyTimer !== undefined) return;
    this.lazyTimer = setTimeout(() => {
      this.lazyTimer = undefined;
      drop(this.save(), () => undefined);
    }, LAZY_SAVE_MS);
    this.lazyTimer.unref();
  }

  private emit(event: 'raised' | 'cleared', alert: Alert): void {
    try {
      this.options.notify?.(event, { ...alert });
    } catch (err) {
      this.options.log.error({ err, alertId: alert.alertId }, 'cannot notify an alert');
    }
  }
}
