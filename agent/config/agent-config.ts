import { z } from 'zod';
import { TidelineError } from '../../app/errors';
import { HypervisorKindSchema, IdSchema } from '../../app/protocol';
import { TokenHashSchema } from '../security/token';
import { readJsonFile } from '../store/json-file';
import type { DataDirLayout } from './data-dir';

/**
 * config.json: who this agent is and how it authenticates consoles. Written once by init;
 * validated at every start. `version` is bumped (with a migration) on incompatible change.
 */
export const AgentConfigSchema = z.strictObject({
  version: z.literal(1),
  agentId: IdSchema,
  siteId: IdSchema,
  hypervisor: HypervisorKindSchema,
  createdAt: z.iso.datetime(),
  adminToken: TokenHashSchema,
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export async function loadAgentConfig(layout: DataDirLayout): Promise<AgentConfig> {
  try {
    return await readJsonFile(layout.configFile, AgentConfigSchema, 'agent configuration');
  } catch (err) {
    if (err instanceof TidelineError && err.code === 'NOT_FOUND') {
      throw new TidelineError(
        'NOT_FOUND',
        `${layout.root} is not an initialized agent data directory (no config.json); run "tideline-agent init --data-dir ${layout.root} --site NAME" first`,
      );
    }
    throw err;
  }
}
