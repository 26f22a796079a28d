import { join, resolve } from 'node:path';

/**
 * Where everything lives in an agent's data directory. The one place that knows the layout:
 *
 *   agent.lock                  the data directory's lock (flock; names its holder)
 *   config.json                 identity and token hash (written once, by init)
 *   tls/key.pem, tls/cert.pem   the agent's key pair and self-signed certificate
 *   state/site.json             site details (site.setDetails)
 *   state/peers.json            paired agents and their pinned certificate fingerprints
 *   state/inventory.json        the sim hypervisor's inventory
 *   state/libvirt.json          the libvirt hypervisor's settings (URI, host id, name prefix)
 *   state/vpgs.json             the VPGs this agent protects or receives (agent/replication)
 *   state/tasks.json            the task history (agent/tasks)
 *   state/workloads.json        the sim VMs' workload settings (restarted at start)
 *   state/policies.json         calendar policies bound to site links and VPGs (agent/policy)
 *   state/alerts.json           raised and cleared alerts, bounded history (agent/alerts)
 *   state/metrics/<vpgId>.ndjson   a VPG's minute metrics history (agent/metrics)
 *   datastores/<ds>/<vm>/*.raw  the sim hypervisor's disks (sparse files)
 *   datastores/<ds>/replicas/<vpgId>/<diskId>.raw   replica disks of received VPGs
 *   outbox/<vpgId>/             a protected VPG's outbox (segments, state, dirty bitmaps)
 *   journal/<vpgId>/            a received VPG's journal
 *   logs/agent.N.log            structured logs (JSON lines), rolled by size (agent/log.ts);
 *   logs/current.log            a link to the one being written
 *   support/<id>.tar.gz         support bundles for consoles to fetch (agent/support), emptied
 *                               at start; support/<id>.work/ while one is being made
 */
export interface DataDirLayout {
  readonly root: string;
  readonly configFile: string;
  /** Held by the one process that may write here (data-dir-lock.ts). */
  readonly lockFile: string;
  readonly tlsDir: string;
  readonly keyFile: string;
  readonly certFile: string;
  readonly stateDir: string;
  readonly siteFile: string;
  readonly peersFile: string;
  readonly inventoryFile: string;
  readonly libvirtFile: string;
  readonly vpgsFile: string;
  readonly tasksFile: string;
  readonly workloadsFile: string;
  readonly policiesFile: string;
  readonly alertsFile: string;
  readonly metricsDir: string;
  readonly datastoresDir: string;
  readonly logsDir: string;
  /** The link to the log file being written. */
  readonly logFile: string;
  readonly supportDir: string;
}

export function dataDirLayout(dataDir: string): DataDirLayout {
  const root = resolve(dataDir);
  const tlsDir = join(root, 'tls');
  const stateDir = join(root, 'state');
  const logsDir = join(root, 'logs');
  return {
    root,
    configFile: join(root, 'config.json'),
    lockFile: join(root, 'agent.lock'),
    tlsDir,
    keyFile: join(tlsDir, 'key.pem'),
    certFile: join(tlsDir, 'cert.pem'),
    stateDir,
    siteFile: join(stateDir, 'site.json'),
    peersFile: join(stateDir, 'peers.json'),
    inventoryFile: join(stateDir, 'inventory.json'),
    libvirtFile: join(stateDir, 'libvirt.json'),
    vpgsFile: join(stateDir, 'vpgs.json'),
    tasksFile: join(stateDir, 'tasks.json'),
    workloadsFile: join(stateDir, 'workloads.json'),
    policiesFile: join(stateDir, 'policies.json'),
    alertsFile: join(stateDir, 'alerts.json'),
    metricsDir: join(stateDir, 'metrics'),
    datastoresDir: join(root, 'datastores'),
    logsDir,
    logFile: join(logsDir, 'current.log'),
    supportDir: join(root, 'support'),
  };
}
