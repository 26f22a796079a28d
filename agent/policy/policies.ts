import type { Logger } from '../log';
import { PolicyService } from './policy-operations';
import { PolicyScheduler, type PolicyVpgInfo } from './policy-scheduler';
import { PolicyStore } from './policy-store';

export interface PoliciesOptions {
  /** state/policies.json */
  readonly file: string;
  readonly log: Logger;
  readonly vpg: (vpgId: string) => PolicyVpgInfo | undefined;
  readonly isPeer: (agentId: string) => boolean;
}

/** The agent's calendar policies: the store, the scheduler enforcing them, the methods. */
export interface Policies {
  readonly scheduler: PolicyScheduler;
  readonly service: PolicyService;
  stop(): Promise<void>;
}

/** Loads the bound policies and starts enforcing them. */
export async function startPolicies(options: PoliciesOptions): Promise<Policies> {
  const { log, vpg, isPeer } = options;
  const store = new PolicyStore(options.file, log);
  await store.load();
  const scheduler = new PolicyScheduler({ store, vpg, log });
  scheduler.start();
  const service = new PolicyService({ store, scheduler, vpg, isPeer, log });
  return {
    scheduler,
    service,
    stop: () => {
      scheduler.stop();
      return Promise.resolve();
    },
  };
}
