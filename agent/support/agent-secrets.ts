import { readFile } from 'node:fs/promises';
import type { TokenHash } from '../security/token';

export interface SecretSources {
  /** tls/key.pem */
  readonly keyFile: string;
  /** config.json's adminToken (only a salted hash is kept; still nobody else's business). */
  readonly adminToken: TokenHash;
  /** The NBD TLS key file (identity:hexkey lines), when the agent has one. */
  readonly pskFile?: string | undefined;
}

/**
 * The secret values this agent knows, read fresh for each bundle, for the Redactor to search
 * every line for. The private key is searched line by line (a PEM's body lines are what a
 * leak would show, in a log or not); the admin token and pairing tokens are never kept in
 * clear, so the Redactor's token-shape rule stands in for them.
 */
export async function agentSecrets(sources: SecretSources): Promise<string[]> {
  const secrets = [sources.adminToken.hash, sources.adminToken.salt];
  const key = await readFile(sources.keyFile, 'utf8').catch(() => '');
  for (const line of key.split(/\r?\n/)) {
    const body = line.trim();
    if (body !== '' && !body.startsWith('-----')) secrets.push(body);
  }
  if (sources.pskFile !== undefined) {
    const psk = await readFile(sources.pskFile, 'utf8').catch(() => '');
    for (const line of psk.split(/\r?\n/)) {
      const hex = line.slice(line.indexOf(':') + 1).trim();
      if (hex !== '') secrets.push(hex);
    }
  }
  return secrets;
}
