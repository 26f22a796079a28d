import { TidelineError } from '../errors';
import { formatPath } from '../protocol/jsonrpc';
import type { VpgRecoverySettings } from './recovery-schemas';

/**
 * Checks a VPG's recovery settings against its VMs: every entry names a VM of the VPG, each
 * VM at most once, every mapped NIC exists on its VM, and a NIC is mapped at most once for
 * live and once for test. Pure: the agent checks vpg.create / vpg.update with it, the
 * console's wizard can show the same problems beside the fields.
 */

/** What the check needs to know of one VM of the VPG. */
export interface RecoveryVmInfo {
  readonly vmId: string;
  /** Shown in messages; the id otherwise. */
  readonly name?: string;
  readonly nicNames: readonly string[];
}

export interface RecoveryProblem {
  /** Where, from the settings' root, e.g. ['recovery', 'vms', 0, 'live', 1, 'nicName']. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export function recoveryProblems(
  recovery: VpgRecoverySettings,
  vms: readonly RecoveryVmInfo[],
): RecoveryProblem[] {
  const problems: RecoveryProblem[] = [];
  const byId = new Map(vms.map((vm) => [vm.vmId, vm]));
  const seen = new Map<string, number>();
  recovery.vms.forEach((entry, index) => {
    const at = ['recovery', 'vms', index];
    const vm = byId.get(entry.vmId);
    if (vm === undefined) {
      problems.push({
        path: [...at, 'vmId'],
        message: `VM ${entry.vmId} is not in the VPG: recovery settings can only be given for the VPG's VMs`,
      });
      return;
    }
    const label = vmLabel(vm);
    const first = seen.get(entry.vmId);
    if (first !== undefined) {
      problems.push({
        path: [...at, 'vmId'],
        message: `VM ${label} has recovery settings twice (entries ${first + 1} and ${index + 1}): keep one`,
      });
    } else {
      seen.set(entry.vmId, index);
    }
    for (const kind of ['live', 'test'] as const) {
      const mapped = new Set<string>();
      entry[kind].forEach((mapping, m) => {
        const path = [...at, kind, m, 'nicName'];
        if (!vm.nicNames.includes(mapping.nicName)) {
          const has = vm.nicNames.length === 0 ? 'none' : vm.nicNames.join(', ');
          problems.push({
            path,
            message: `VM ${label} has no NIC "${mapping.nicName}" (its NICs: ${has})`,
          });
        } else if (mapped.has(mapping.nicName)) {
          problems.push({
            path,
            message: `NIC "${mapping.nicName}" of VM ${label} is mapped twice for ${kind} failover: keep one mapping`,
          });
        }
        mapped.add(mapping.nicName);
      });
    }
  });
  return problems;
}

/** INVALID_PARAMS listing the problems (at most 5, then how many more); nothing if fine. */
export function checkRecoverySettings(
  recovery: VpgRecoverySettings | undefined,
  vms: readonly RecoveryVmInfo[],
): void {
  if (recovery === undefined) return;
  const problems = recoveryProblems(recovery, vms);
  if (problems.length === 0) return;
  const shown = problems.slice(0, 5).map((p) => p.message);
  const more = problems.length - shown.length;
  const issues = problems.map((p) => ({ path: formatPath(p.path), message: p.message }));
  throw new TidelineError(
    'INVALID_PARAMS',
    `The recovery settings are not valid: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
    { path: issues[0]?.path ?? '(root)', issues },
  );
}

function vmLabel(vm: RecoveryVmInfo): string {
  return vm.name === undefined ? vm.vmId : `"${vm.name}"`;
}
