import { join } from 'node:path';
import { TidelineError } from '../../app/errors';
import type { BundleChunk, ParamsOut, AgentMethods } from '../../app/protocol';
import type { DataDirLayout } from '../config/data-dir';
import type { Logger } from '../log';
import type { TaskManager } from '../tasks/task-manager';
import { agentSecrets, type SecretSources } from './agent-secrets';
import { BundleStore } from './bundle-store';
import { STEPS, collectBundle } from './collect';
import { stateSummaries, type StateSources } from './state-summary';
import { systemFacts, type SystemSources } from './system-facts';

export interface SupportServiceOptions {
  readonly layout: DataDirLayout;
  readonly tasks: TaskManager;
  readonly log: Logger;
  readonly state: Omit<StateSources, 'outboxDir' | 'journalDir'>;
  readonly system: Omit<SystemSources, 'dataDir'>;
  readonly secrets: SecretSources;
  /** Bundles are deleted this long after they were made unless removed before (default 1 h). */
  readonly ttlMs?: number;
  readonly maxKept?: number;
}

export type LogCollectRequest = ParamsOut<AgentMethods, 'log.collect'>;

/**
 * `log.collect`, `log.bundleRead`, `log.bundleRemove`: support bundles made as CollectLogs
 * tasks, one at a time, kept in a BundleStore until fetched or expired. See README.md.
 */
export class SupportService {
  private readonly store: BundleStore;
  /** The collection under way (its task id once created): one at a time. */
  private collecting: { taskId: string } | undefined;

  constructor(private readonly options: SupportServiceOptions) {
    this.store = new BundleStore({
      dir: options.layout.supportDir,
      log: options.log,
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
      ...(options.maxKept !== undefined && { maxKept: options.maxKept }),
    });
  }

  start(): Promise<void> {
    return this.store.start();
  }

  stop(): Promise<void> {
    return this.store.stop();
  }

  async collect(params: LogCollectRequest): Promise<{ taskId: string }> {
    if (this.collecting !== undefined) {
      throw new TidelineError(
        'CONFLICT',
        `A support bundle is being collected on this agent now (task ${this.collecting.taskId}): wait for it to end`,
        { taskId: this.collecting.taskId },
      );
    }
    const { layout } = this.options;
    const claim = { taskId: '' };
    this.collecting = claim;
    let reserved;
    try {
      reserved = await this.store.reserve();
    } catch (err) {
      this.collecting = undefined;
      throw err;
    }
    const steps = [
      ...(params.include.logs ? [STEPS.logs] : []),
      ...(params.include.state ? [STEPS.state] : []),
      ...(params.include.system ? [STEPS.system] : []),
      STEPS.pack,
    ];
    let task;
    try {
      task = this.options.tasks.run(
        { type: 'CollectLogs', input: { ...params }, steps, abortable: true },
        async (handle) => {
          try {
            const bundle = await collectBundle(
              {
                params,
                ...reserved,
                dataDir: layout.root,
                logsDir: layout.logsDir,
                ttlMs: this.store.ttlMs,
                now: this.store.now(),
                secrets: () => agentSecrets(this.options.secrets),
                state: () =>
                  stateSummaries({
                    ...this.options.state,
                    outboxDir: join(layout.root, 'outbox'),
                    journalDir: join(layout.root, 'journal'),
                  }),
                system: () => systemFacts({ ...this.options.system, dataDir: layout.root }),
              },
              handle,
            );
            await this.store.add(bundle);
            this.options.log.info(
              { bundleId: bundle.bundleId, bytes: bundle.bytes, files: bundle.files.length },
              'support bundle collected',
            );
            return { ...bundle };
          } catch (err) {
            await this.store.remove(reserved.bundleId);
            throw err;
          } finally {
            if (this.collecting === claim) this.collecting = undefined;
          }
        },
      );
    } catch (err) {
      this.collecting = undefined;
      await this.store.remove(reserved.bundleId);
      throw err;
    }
    claim.taskId = task.taskId;
    return { taskId: task.taskId };
  }

  read(bundleId: string, offset: number, length: number): Promise<BundleChunk> {
    return this.store.read(bundleId, offset, length);
  }

  async remove(bundleId: string): Promise<{ removed: boolean }> {
    return { removed: await this.store.remove(bundleId) };
  }
}
