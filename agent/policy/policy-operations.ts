import { TidelineError } from '../../app/errors';
import { validatePolicy } from '../../app/policy/policy';
import type { Policy, PolicyIssue, PolicyTarget } from '../../app/policy/policy-schemas';
import type { PolicyRecord } from '../../app/protocol/policy-api';
import type { Logger } from '../log';
import type { PolicyScheduler, PolicyVpgInfo } from './policy-scheduler';
import type { PolicyStore } from './policy-store';

/** policy.get / policy.set / policy.validate (agent/control/policy-handlers.ts). */
export interface PolicyOperations {
  get(target: PolicyTarget): PolicyRecord;
  set(target: PolicyTarget, policy: Policy | null): Promise<PolicyRecord>;
  validate(policy: unknown): { valid: boolean; issues: PolicyIssue[] };
}

export interface PolicyServiceOptions {
  readonly store: PolicyStore;
  readonly scheduler: PolicyScheduler;
  readonly vpg: (vpgId: string) => PolicyVpgInfo | undefined;
  /** Whether `agentId` is a paired agent. */
  readonly isPeer: (agentId: string) => boolean;
  readonly log: Logger;
}

/** The policy methods: checks, version check, store, then the scheduler applies the change. */
export class PolicyService implements PolicyOperations {
  private serial: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PolicyServiceOptions) {}

  get(target: PolicyTarget): PolicyRecord {
    // A received VPG has no policy here (it is enforced at its protected site).
    if (target.kind === 'vpg' && this.options.vpg(target.vpgId)?.role === 'target') {
      return { target };
    }
    this.checkTarget(target);
    return this.record(target);
  }

  validate(policy: unknown): { valid: boolean; issues: PolicyIssue[] } {
    const { issues } = validatePolicy(policy);
    return { valid: issues.length === 0, issues };
  }

  set(target: PolicyTarget, policy: Policy | null): Promise<PolicyRecord> {
    // Serialized so two admins' version checks cannot both pass.
    const run = this.serial.then(() => this.apply(target, policy));
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async apply(target: PolicyTarget, policy: Policy | null): Promise<PolicyRecord> {
    const { store, scheduler, log } = this.options;
    this.checkTarget(target);
    const stored = store.get(target);
    const storedVersion = stored?.version ?? 0;
    if (policy === null) {
      if (stored !== undefined) await store.set(target, undefined);
    } else {
      const { policy: valid, issues } = validatePolicy(policy);
      if (valid === undefined || issues.length > 0) {
        throw new TidelineError(
          'INVALID_PARAMS',
          `The policy is not valid: ${issues.map((i) => `${i.path || 'policy'}: ${i.message}`).join('; ')}`,
          { issues },
        );
      }
      if (valid.version !== storedVersion) {
        throw new TidelineError(
          'CONFLICT',
          `The policy was edited from version ${valid.version}, but this agent's policy is at version ${storedVersion}: someone changed it meanwhile; start from the current policy (or rebase the draft) and apply again`,
          { version: valid.version, currentVersion: storedVersion },
        );
      }
      await store.set(target, { ...valid, version: storedVersion + 1 });
    }
    scheduler.rebind(target);
    log.info({ target, version: policy === null ? null : storedVersion + 1 }, 'policy set');
    return this.record(target);
  }

  private record(target: PolicyTarget): PolicyRecord {
    const policy = this.options.store.get(target);
    const inForce = this.options.scheduler.inForce(target);
    return {
      target,
      ...(policy !== undefined && { policy }),
      ...(inForce !== undefined && { inForce }),
    };
  }

  private checkTarget(target: PolicyTarget): void {
    if (target.kind === 'link') {
      if (!this.options.isPeer(target.peerAgentId)) {
        throw new TidelineError(
          'NOT_FOUND',
          `Agent ${target.peerAgentId} is not paired with this site: pair the sites before binding a policy to their link`,
        );
      }
      return;
    }
    const vpg = this.options.vpg(target.vpgId);
    if (vpg === undefined) {
      throw new TidelineError('NOT_FOUND', `VPG ${target.vpgId} is not on this agent`);
    }
    if (vpg.role !== 'source') {
      throw new TidelineError(
        'CONFLICT',
        `VPG ${target.vpgId} is replicated to this site: its policy is enforced where it is sent from, so set it on the protected site's agent (${vpg.peerAgentId})`,
      );
    }
  }
}
