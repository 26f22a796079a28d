import type { AgentView } from '../../app/protocol';

/** A certificate fingerprint for console tests that never check it. */
export const TEST_FINGERPRINT = Array.from({ length: 32 }, () => 'AA').join(':');

/** The console's view of an agent of `siteId`, connected or retrying. */
export function agentView(key: string, siteId: string, connected = true): AgentView {
  return {
    key,
    address: `10.0.0.${key.length}:7443`,
    fingerprint: TEST_FINGERPRINT,
    state: connected ? 'connected' : 'retrying',
    identity: {
      agentId: `a-${key}`,
      siteId,
      siteName: siteId,
      hostName: key,
      version: '1',
      fingerprint: TEST_FINGERPRINT,
    },
  };
}
