import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TidelineError } from '../../../app/errors';

/** release/<name>.json, written by scripts/package-agent.mjs beside each tarball. */
export const AgentPackageInfoSchema = z.object({
  product: z.literal('tideline-agent'),
  version: z.string().regex(/^[0-9A-Za-z.+-]{1,40}$/),
  protocolVersion: z.number().int().positive(),
  node: z.string(),
  platform: z.literal('linux'),
  arch: z.enum(['x64', 'arm64']),
  commit: z.string(),
  sha256: z.record(z.string(), z.string()),
  tarball: z.object({
    file: z.string().regex(/^[0-9A-Za-z._-]+\.tar\.gz$/),
    bytes: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});
export type AgentPackageInfo = z.infer<typeof AgentPackageInfoSchema>;

export interface AgentPackage {
  readonly info: AgentPackageInfo;
  /** The tarball on this machine. */
  readonly path: string;
}

/** `uname -m` of a host → the package's arch. */
export function archOf(machine: string): AgentPackageInfo['arch'] | undefined {
  if (machine === 'x86_64' || machine === 'amd64') return 'x64';
  if (machine === 'aarch64' || machine === 'arm64') return 'arm64';
  return undefined;
}

/** Every agent package in `dir` (release/) whose description reads well. */
export async function loadAgentPackages(dir: string): Promise<AgentPackage[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(
      (n) => n.startsWith('tideline-agent-') && n.endsWith('.json'),
    );
  } catch {
    throw new TidelineError(
      'NOT_FOUND',
      `There is no agent package in ${dir}: build one with "npm run package:agent"`,
    );
  }
  const packages: AgentPackage[] = [];
  for (const name of names) {
    const parsed = AgentPackageInfoSchema.safeParse(
      JSON.parse(await readFile(join(dir, name), 'utf8')),
    );
    if (!parsed.success) continue;
    packages.push({ info: parsed.data, path: join(dir, parsed.data.tarball.file) });
  }
  return packages;
}
