import { TidelineError, isTidelineError } from '../../../app/errors';
import { validatePolicy } from '../../../app/policy/policy';
import type { Policy, PolicyTarget } from '../../../app/policy/policy-schemas';
import type { PolicyDraft, PolicyDraftKey } from '../../../app/protocol/console-api';
import type { PolicyRecord } from '../../../app/protocol/policy-api';
import type { AgentConnection } from '../agents/agent-connection';
import type { Clock } from '../util/clock';
import type { Logger } from '../util/log';
import type { DraftStore } from './draft-store';

/** What the policies methods need from the console core. */
export interface PolicyAccess {
  readonly drafts: DraftStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The connection to the agent with this agentId, if one is connected. */
  connectedAgent(agentId: string): AgentConnection | undefined;
}

/** Drafts: saved, discarded, applied and rebased. Saving needs no agent (offline planning). */
export class PolicyDrafts {
  constructor(private readonly access: PolicyAccess) {}

  list(): PolicyDraft[] {
    return this.access.drafts.list();
  }

  save(
    params: PolicyDraftKey & {
      policy: Policy;
      baseVersion?: number | undefined;
      label?: string | undefined;
    },
  ): PolicyDraft {
    const policy = checked(params.policy);
    const known = this.access.drafts.get(params.agentId, params.target);
    const label = params.label ?? known?.label;
    return this.access.drafts.save({
      agentId: params.agentId,
      target: params.target,
      baseVersion: known?.baseVersion ?? params.baseVersion ?? 0,
      ...(label !== undefined && { label }),
      policy,
      updatedAt: this.access.clock.now(),
    });
  }

  discard(key: PolicyDraftKey): { discarded: boolean } {
    return { discarded: this.access.drafts.discard(key.agentId, key.target) };
  }

  current(key: PolicyDraftKey): Promise<PolicyRecord> {
    return this.agent(key.agentId).call('policy.get', { target: key.target });
  }

  /**
   * policy.set with the draft's base version: the agent refuses it (CONFLICT) when its policy
   * changed since the draft was started; that is checked here first for a clearer message.
   */
  async apply(key: PolicyDraftKey): Promise<PolicyRecord> {
    const draft = this.draft(key);
    const agent = this.agent(key.agentId);
    const current = await agent.call('policy.get', { target: key.target });
    const agentVersion = current.policy?.version ?? 0;
    if (agentVersion !== draft.baseVersion) throw conflict(draft, agentVersion);
    let record: PolicyRecord;
    try {
      record = await agent.call('policy.set', {
        target: key.target,
        policy: { ...draft.policy, version: draft.baseVersion },
      });
    } catch (err) {
      if (isTidelineError(err) && err.code === 'CONFLICT') throw conflict(draft, undefined);
      throw err;
    }
    this.access.drafts.discard(key.agentId, key.target);
    this.access.logger.info(
      { agentId: key.agentId, target: key.target, version: record.policy?.version },
      'policy draft applied',
    );
    return record;
  }

  /** Takes the agent's current version as the base; the draft's timeframes stay as drafted. */
  async rebase(key: PolicyDraftKey): Promise<PolicyDraft> {
    const draft = this.draft(key);
    const current = await this.current(key);
    return this.access.drafts.save({
      ...draft,
      baseVersion: current.policy?.version ?? 0,
      updatedAt: this.access.clock.now(),
    });
  }

  private draft(key: PolicyDraftKey): PolicyDraft {
    const draft = this.access.drafts.get(key.agentId, key.target);
    if (draft === undefined) {
      throw new TidelineError('NOT_FOUND', `There is no draft for ${describe(key.target)}.`, key);
    }
    return draft;
  }

  private agent(agentId: string): AgentConnection {
    const agent = this.access.connectedAgent(agentId);
    if (agent === undefined) {
      throw new TidelineError(
        'UNAVAILABLE',
        `The agent ${agentId} is not connected: the draft is kept here; apply it once the agent is back.`,
        { agentId },
      );
    }
    return agent;
  }
}

function checked(policy: Policy): Policy {
  const { policy: valid, issues } = validatePolicy(policy);
  if (valid === undefined || issues.length > 0) {
    const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    throw new TidelineError('INVALID_PARAMS', `The policy cannot be saved: ${list}`, { issues });
  }
  return valid;
}

function conflict(draft: PolicyDraft, agentVersion: number | undefined): TidelineError {
  const now = agentVersion === undefined ? '' : ` (now version ${agentVersion})`;
  return new TidelineError(
    'CONFLICT',
    `The agent's policy for ${describe(draft.target)} changed since this draft was started ` +
      `from version ${draft.baseVersion}${now}. Review the agent's policy, then rebase the ` +
      'draft onto it to apply your timeframes anyway.',
    { baseVersion: draft.baseVersion, agentVersion },
  );
}

function describe(target: PolicyTarget): string {
  return target.kind === 'link' ? `the site link to ${target.peerAgentId}` : `VPG ${target.vpgId}`;
}
