import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { migratePolicy } from '../../app/policy/policy';
import {
  PolicyTargetSchema,
  type Policy,
  type PolicyTarget,
} from '../../app/policy/policy-schemas';
import type { Logger } from '../log';
import { writeJsonAtomic } from '../store/atomic-file';
import { readJsonFile } from '../store/json-file';

/** On disk the policy is kept raw: migratePolicy brings an older schema version up on load. */
const PoliciesFileSchema = z.strictObject({
  version: z.literal(1),
  bindings: z.array(z.strictObject({ target: PolicyTargetSchema, policy: z.unknown() })),
});
type PoliciesFile = z.infer<typeof PoliciesFileSchema>;

/** The key of a target: one policy per site link and per VPG. */
export function targetKey(target: PolicyTarget): string {
  return target.kind === 'link' ? `link:${target.peerAgentId}` : `vpg:${target.vpgId}`;
}

/**
 * The policies bound on this agent, in state/policies.json (written atomically). A change is
 * visible only once it is durably on disk; changes are serialized.
 */
export class PolicyStore {
  private readonly bindings = new Map<string, { target: PolicyTarget; policy: Policy }>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    let file: PoliciesFile;
    try {
      file = await readJsonFile(this.file, PoliciesFileSchema, 'policy list');
    } catch (err) {
      if (err instanceof TidelineError && err.code === 'NOT_FOUND') return;
      throw err;
    }
    for (const { target, policy: raw } of file.bindings) {
      const { policy, issues } = migratePolicy(raw);
      if (policy === undefined) {
        // A policy this version cannot read is dropped rather than half-enforced.
        this.log.error({ target, issues }, 'a stored policy is not valid: it is not enforced');
        continue;
      }
      this.bindings.set(targetKey(target), { target, policy });
    }
  }

  get(target: PolicyTarget): Policy | undefined {
    return this.bindings.get(targetKey(target))?.policy;
  }

  list(): { target: PolicyTarget; policy: Policy }[] {
    return [...this.bindings.values()];
  }

  /** Binds `policy` to `target` (undefined: unbinds), once it is on disk. */
  set(target: PolicyTarget, policy: Policy | undefined): Promise<void> {
    const run = this.queue.then(async () => {
      const next = new Map(this.bindings);
      if (policy === undefined) next.delete(targetKey(target));
      else next.set(targetKey(target), { target, policy });
      const file: PoliciesFile = { version: 1, bindings: [...next.values()] };
      await writeJsonAtomic(this.file, file, { mode: 0o600 });
      this.bindings.clear();
      for (const [key, value] of next) this.bindings.set(key, value);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
