import { TidelineError } from '../../../app/errors';

/** What the deployer fills into resources/systemd/tideline-agent.service. */
export interface AgentUnitValues {
  /** The installed package, e.g. /opt/tideline/current. */
  readonly installDir: string;
  /** The agent's data directory, e.g. /var/lib/tideline. */
  readonly dataDir: string;
  /** The control address, host:port (IPv6 in brackets). */
  readonly listen: string;
  /** Supplementary groups of the service user (libvirt hosts: libvirt and QEMU's group). */
  readonly groups: readonly string[];
}

// Values land in a unit file: no whitespace, quotes, specifiers (%) or line breaks that could
// add a directive, whatever a host or a form sends.
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
const SAFE_LISTEN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const SAFE_GROUP = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The unit with its placeholders filled in; refuses a value that is not plainly safe. */
export function renderAgentUnit(template: string, values: AgentUnitValues): string {
  const check = (ok: boolean, what: string, value: string): void => {
    if (!ok) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `${what} "${value}" cannot go into the service unit: use plain characters only`,
      );
    }
  };
  check(SAFE_PATH.test(values.installDir), 'Install directory', values.installDir);
  check(SAFE_PATH.test(values.dataDir), 'Data directory', values.dataDir);
  check(SAFE_LISTEN.test(values.listen), 'Listen address', values.listen);
  for (const group of values.groups) check(SAFE_GROUP.test(group), 'Group', group);
  const filled = template
    .replaceAll('@INSTALL_DIR@', values.installDir.replace(/\/+$/, ''))
    .replaceAll('@DATA_DIR@', values.dataDir)
    .replaceAll('@LISTEN@', values.listen)
    .replaceAll('@GROUPS@', values.groups.join(' '));
  const left = /@[A-Z_]+@/.exec(filled);
  if (left !== null) throw new Error(`unit template placeholder ${left[0]} has no value`);
  return filled;
}
