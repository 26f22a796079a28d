import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Level } from 'pino';
import { TidelineError } from '../app/errors';
import { HypervisorKindSchema, SiteDetailsSchema, type HypervisorKind } from '../app/protocol';
import { exportDiskCli } from './commands/export-disk';
import { initDataDir } from './commands/init';
import { runAgent } from './commands/run';
import {
  EXIT_ALREADY_INITIALIZED,
  EXIT_DATA_DIR_IN_USE,
  EXIT_USAGE,
  INIT_HELP,
  MAIN_HELP,
  RUN_HELP,
  UsageError,
} from './commands/usage';
import { DataDirLockedError } from './config/data-dir-lock';
import { parseListen } from './config/listen';
import { parseNbdFlags } from './config/nbd-flags';
import { parseReplicationFlags } from './config/replication-flags';
import { SUPPORTED_HYPERVISORS } from './hypervisor/registry';
import { MAX_SIM_VMS } from './hypervisor/sim/generator';
import { LOG_LEVELS } from './log';
import { AGENT_PRODUCT, AGENT_VERSION } from './version';

type Options = NonNullable<ParseArgsConfig['options']>;

const INIT_OPTIONS = {
  'data-dir': { type: 'string' },
  site: { type: 'string' },
  hypervisor: { type: 'string' },
  'sim-disk-mib': { type: 'string' },
  'sim-vms': { type: 'string' },
  'libvirt-uri': { type: 'string' },
  'libvirt-prefix': { type: 'string' },
  'libvirt-qemu-group': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

const RUN_OPTIONS = {
  'data-dir': { type: 'string' },
  listen: { type: 'string' },
  'replication-listen': { type: 'string' },
  advertise: { type: 'string' },
  'pairing-token-ttl': { type: 'string' },
  'outbox-limit-mib': { type: 'string' },
  'preseed-dir': { type: 'string' },
  'rpo-grace-seconds': { type: 'string' },
  'metadata-interval-seconds': { type: 'string' },
  'nbd-socket': { type: 'string' },
  'nbd-listen': { type: 'string' },
  'nbd-tls-psk': { type: 'string' },
  'nbd-allow-insecure': { type: 'boolean' },
  'no-nbd': { type: 'boolean' },
  'log-level': { type: 'string' },
  keepalive: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** The tideline-agent command line; resolves with the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
        process.stderr.write(MAIN_HELP);
        return EXIT_USAGE;
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(MAIN_HELP);
        return 0;
      case '-V':
      case '--version':
        process.stdout.write(`${AGENT_PRODUCT} ${AGENT_VERSION}\n`);
        return 0;
      case 'init':
        return await init(rest);
      case 'run':
        return await run(rest);
      case 'export-disk':
        return await exportDiskCli(rest);
      default:
        throw new UsageError(
          `Unknown command "${command}"; the commands are init, run and export-disk`,
        );
    }
  } catch (err) {
    return report(err);
  }
}

async function init(args: readonly string[]): Promise<number> {
  const values = parse(args, INIT_OPTIONS);
  if (values.help === true) {
    process.stdout.write(INIT_HELP);
    return 0;
  }
  const dataDir = requireDataDir(values['data-dir']);
  if (values.site === undefined)
    throw new UsageError('Missing --site NAME (the name of this site)');
  const site = SiteDetailsSchema.shape.name.safeParse(values.site);
  if (!site.success) throw new UsageError('--site must be 1–80 characters (not only spaces)');
  const simDiskMiB = simDiskSize(values['sim-disk-mib']);
  const simVms = simVmCount(values['sim-vms']);
  const hypervisor = hypervisorKind(values.hypervisor);
  const libvirt = libvirtFlags(values, hypervisor);
  const result = await initDataDir({
    dataDir,
    siteName: site.data,
    hypervisor,
    ...(simDiskMiB !== undefined && { simDiskMiB }),
    ...(simVms !== undefined && { simVms }),
    ...(libvirt !== undefined && { libvirt }),
  });
  process.stdout.write(`token: ${result.token}\nfingerprint: ${result.fingerprint}\n`);
  process.stderr.write(
    `Initialized ${result.dataDir} (site "${site.data}", agent ${result.agentId}).\n` +
      'Keep the token now: it is not shown again. Start the agent with "tideline-agent run --data-dir DIR".\n',
  );
  return 0;
}

async function run(args: readonly string[]): Promise<number> {
  const values = parse(args, RUN_OPTIONS);
  if (values.help === true) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const dataDir = requireDataDir(values['data-dir']);
  const listenText = values.listen ?? '0.0.0.0:7443';
  const listen = parseListen(listenText);
  if (listen === undefined)
    throw new UsageError(`--listen must be HOST:PORT (e.g. 127.0.0.1:7443), not "${listenText}"`);
  const level = values['log-level'] ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const keepalive = Number(values.keepalive ?? '30');
  if (!Number.isFinite(keepalive) || keepalive <= 0 || keepalive > 3600) {
    throw new UsageError('--keepalive must be a number of seconds between 0 and 3600');
  }
  const graceText = values['rpo-grace-seconds'];
  const rpoGraceSeconds = graceText === undefined ? undefined : Number(graceText);
  if (
    rpoGraceSeconds !== undefined &&
    !(Number.isInteger(rpoGraceSeconds) && rpoGraceSeconds >= 0 && rpoGraceSeconds <= 86_400)
  ) {
    throw new UsageError(
      '--rpo-grace-seconds must be a whole number of seconds between 0 and 86400',
    );
  }
  const metadataText = values['metadata-interval-seconds'];
  const metadataSeconds = metadataText === undefined ? undefined : Number(metadataText);
  if (
    metadataSeconds !== undefined &&
    !(Number.isInteger(metadataSeconds) && metadataSeconds >= 1 && metadataSeconds <= 86_400)
  ) {
    throw new UsageError(
      '--metadata-interval-seconds must be a whole number of seconds between 1 and 86400',
    );
  }
  return runAgent({
    dataDir,
    listen,
    ...(rpoGraceSeconds !== undefined && { rpoGraceSeconds }),
    ...(metadataSeconds !== undefined && { metadataIntervalMs: metadataSeconds * 1000 }),
    ...parseReplicationFlags(values, listen),
    nbd: parseNbdFlags(values),
    logLevel: level as Level,
    keepaliveMs: Math.round(keepalive * 1000),
    commandLine: ['tideline-agent', 'run', ...args].join(' ').slice(0, 200),
  });
}

function parse<O extends Options>(args: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function requireDataDir(value: string | undefined): string {
  const dir = value ?? process.env['TIDELINE_DATA_DIR'];
  if (dir === undefined || dir.trim() === '')
    throw new UsageError('Missing --data-dir DIR (or $TIDELINE_DATA_DIR)');
  return dir;
}

function hypervisorKind(value: string | undefined): HypervisorKind {
  const kind = HypervisorKindSchema.safeParse(value ?? 'sim');
  if (!kind.success || !SUPPORTED_HYPERVISORS.includes(kind.data)) {
    throw new UsageError(`--hypervisor must be one of: ${SUPPORTED_HYPERVISORS.join(', ')}`);
  }
  return kind.data;
}

function libvirtFlags(
  values: { 'libvirt-uri'?: string; 'libvirt-prefix'?: string; 'libvirt-qemu-group'?: string },
  hypervisor: HypervisorKind,
): { uri?: string; domainPrefix?: string; qemuGroup?: string } | undefined {
  const uri = values['libvirt-uri'];
  const prefix = values['libvirt-prefix'];
  const group = values['libvirt-qemu-group'];
  if (hypervisor !== 'libvirt') {
    if (uri !== undefined || prefix !== undefined || group !== undefined) {
      throw new UsageError('--libvirt-* options need --hypervisor libvirt');
    }
    return undefined;
  }
  if (uri !== undefined && !/^[a-z][a-z0-9+.-]*:\/\/[^\s]*$/.test(uri)) {
    throw new UsageError(
      `--libvirt-uri must be a libvirt URI such as qemu:///system, not "${uri}"`,
    );
  }
  if (prefix !== undefined && (prefix.length > 64 || /[/\0\n]/.test(prefix))) {
    throw new UsageError('--libvirt-prefix must be at most 64 characters, without "/"');
  }
  if (group !== undefined && !/^[a-z_][a-z0-9_-]{0,63}$/i.test(group)) {
    throw new UsageError(`--libvirt-qemu-group must be a group name, not "${group}"`);
  }
  return {
    ...(uri !== undefined && { uri }),
    ...(prefix !== undefined && { domainPrefix: prefix }),
    ...(group !== undefined && { qemuGroup: group }),
  };
}

function simDiskSize(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const mib = Number(value);
  if (!Number.isSafeInteger(mib) || mib < 1 || mib > 65_536) {
    throw new UsageError('--sim-disk-mib must be a whole number of MiB between 1 and 65536');
  }
  return mib;
}

function simVmCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const count = Number(value);
  if (!Number.isSafeInteger(count) || count < 1 || count > MAX_SIM_VMS) {
    throw new UsageError(`--sim-vms must be a whole number of VMs between 1 and ${MAX_SIM_VMS}`);
  }
  return count;
}

function report(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(
      `tideline-agent: ${err.message}\nRun "tideline-agent --help" for usage.\n`,
    );
    return EXIT_USAGE;
  }
  if (err instanceof DataDirLockedError) {
    process.stderr.write(`tideline-agent: ${err.message}\n`);
    return EXIT_DATA_DIR_IN_USE;
  }
  if (err instanceof TidelineError) {
    process.stderr.write(`tideline-agent: ${err.message}\n`);
    return err.code === 'ALREADY_EXISTS' ? EXIT_ALREADY_INITIALIZED : 1;
  }
  process.stderr.write(
    `tideline-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  return 1;
}

process.exit(await main(process.argv.slice(2)));
