import { readFile } from 'node:fs/promises';
import { TidelineError, isTidelineError } from '../../../app/errors';
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../../../app/protocol';
import { archOf, type AgentPackage } from './agent-package';
import { renderAgentUnit } from './agent-unit';
import { RemoteShell, shellQuote } from './remote-shell';
import { SshSession, type SshTarget } from './ssh-session';

/** The steps of a deploy, in order, as the console shows them. */
export const DEPLOY_STEPS = [
  'Connect',
  'Check the host',
  'Upload the package',
  'Install',
  'Initialize the agent',
  'Start the service',
] as const;
export type DeployStep = (typeof DEPLOY_STEPS)[number];

export const UPGRADE_STEPS = [
  'Connect',
  'Check the host',
  'Upload the package',
  'Install',
  'Restart the service',
] as const;
export const UNDEPLOY_STEPS = ['Connect', 'Stop the service', 'Remove'] as const;

export interface StepProgress {
  readonly step: string;
  readonly index: number;
  readonly of: number;
  /** 0..1 within the step (uploads). */
  readonly fraction?: number;
}

export interface DeployOptions {
  readonly target: SshTarget;
  readonly site: string;
  /** The agent's control address on the host (--listen), e.g. 0.0.0.0:7443. */
  readonly listen: string;
  readonly hypervisor: 'auto' | 'sim' | 'libvirt';
  /** Default /var/lib/tideline. */
  readonly dataDir?: string;
  readonly packages: readonly AgentPackage[];
  /** The unit template (resources/systemd/tideline-agent.service). */
  readonly unitTemplatePath: string;
  readonly onProgress?: (progress: StepProgress) => void;
}

export interface DeployedAgent {
  readonly version: string;
  readonly arch: string;
  /** The admin token init printed: only ever handed to the console's agent list. */
  readonly token: string;
  readonly fingerprint: string;
  readonly hypervisor: 'sim' | 'libvirt';
}

export interface HostFacts {
  readonly arch: string;
  readonly systemd: boolean;
  readonly libvirt: boolean;
  /** The installed package's VERSION, if any. */
  readonly installed?: { readonly version: string; readonly protocolVersion: number };
  readonly initialized: boolean;
  /** Free KiB where the package is unpacked (/opt), uploaded (/tmp) and kept (data dir). */
  readonly freeKiB: { readonly opt: number; readonly tmp: number; readonly data: number };
}

export const DEFAULT_DATA_DIR = '/var/lib/tideline';
const UNIT_PATH = '/etc/systemd/system/tideline-agent.service';
const INSTALL_ROOT = '/opt/tideline';
/** systemctl start waits for READY=1; the unit's TimeoutStartSec is 180 s. */
const START_TIMEOUT_MS = 240_000;

// ───────────────────────────── remote scripts ─────────────────────────────
// POSIX sh, run as root; arguments are $1… (quoted by RemoteShell), never pasted into code.

const CHECK_SCRIPT = `
data=$1
echo "arch=$(uname -m)"
if command -v systemctl >/dev/null 2>&1; then echo systemd=yes; else echo systemd=no; fi
if command -v virsh >/dev/null 2>&1 && virsh -c qemu:///system version >/dev/null 2>&1; then echo libvirt=yes; else echo libvirt=no; fi
if [ -r ${INSTALL_ROOT}/current/VERSION ]; then echo "installed=$(tr -d '\\n' < ${INSTALL_ROOT}/current/VERSION)"; fi
if [ -e "$data/config.json" ]; then echo initialized=yes; else echo initialized=no; fi
free() { d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | awk 'NR==2 {print $4}'; }
echo "free_opt=$(free ${INSTALL_ROOT})"
echo "free_tmp=$(free /tmp)"
echo "free_data=$(free "$data")"
`;

/** Unpacks into <root>/<version> (checksums checked first), unless that version is whole. */
const INSTALL_SCRIPT = `
set -eu
pkg=$1; version=$2; dest=${INSTALL_ROOT}/$version
if [ -r "$dest/SHA256SUMS" ] && (cd "$dest" && sha256sum -c --quiet SHA256SUMS) >/dev/null 2>&1; then
  echo present; exit 0
fi
rm -rf "$dest.partial"
mkdir -p ${INSTALL_ROOT} "$dest.partial"
if ! tar -xzf "$pkg" -C "$dest.partial" --strip-components=1 --no-same-owner 2>"$dest.partial.err"; then
  err=$(tail -n 1 "$dest.partial.err"); rm -rf "$dest.partial" "$dest.partial.err"
  echo "unpacking failed: $err" >&2; exit 1
fi
rm -f "$dest.partial.err"
(cd "$dest.partial" && sha256sum -c --quiet SHA256SUMS) || { rm -rf "$dest.partial"; echo 'the unpacked files do not match their checksums' >&2; exit 1; }
chmod -R go-w "$dest.partial"
rm -rf "$dest"; mv "$dest.partial" "$dest"
echo installed
`;

/** Points <root>/current at a version (atomically); prints the previous target. */
const ACTIVATE_SCRIPT = `
set -eu
previous=$(readlink ${INSTALL_ROOT}/current 2>/dev/null || true)
ln -sfn "$1" ${INSTALL_ROOT}/current.new
mv -T ${INSTALL_ROOT}/current.new ${INSTALL_ROOT}/current
echo "$previous"
`;

/** The service user and the data directory; prints what it created. */
const USER_SCRIPT = `
set -eu
data=$1; shift
if ! getent group tideline >/dev/null; then groupadd --system tideline; echo created-group; fi
if ! getent passwd tideline >/dev/null; then
  useradd --system --gid tideline --home-dir "$data" --no-create-home --shell /usr/sbin/nologin tideline
  echo created-user
fi
for g in "$@"; do if getent group "$g" >/dev/null; then usermod -a -G "$g" tideline; fi; done
if [ ! -d "$data" ]; then mkdir -p "$data"; echo created-data; fi
chown tideline:tideline "$data"; chmod 0750 "$data"
`;

const INIT_SCRIPT = `
set -eu
cd /
runuser -u tideline -- ${INSTALL_ROOT}/current/bin/tideline-agent init --data-dir "$1" --site "$2" --hypervisor "$3"
`;

const UNIT_SCRIPT = `
set -eu
printf '%s' "$1" > ${UNIT_PATH}.new
chmod 0644 ${UNIT_PATH}.new
mv ${UNIT_PATH}.new ${UNIT_PATH}
systemctl daemon-reload
systemctl enable tideline-agent.service >/dev/null 2>&1 || systemctl enable tideline-agent.service
`;

/** Starts the service (systemctl waits for READY=1); on failure prints the agent's last words. */
const START_SCRIPT = `
data=$1
if systemctl start tideline-agent.service; then exit 0; fi
echo "the service did not start" >&2
tail -n 5 "$data/logs/current.log" 2>/dev/null | sed -n 's/.*"msg":"\\([^"]*\\)".*/\\1/p' | tail -n 1 >&2
exit 1
`;

const STOP_SCRIPT = `
if [ -e ${UNIT_PATH} ]; then systemctl stop tideline-agent.service; fi
exit 0
`;

const REMOVE_SCRIPT = `
set -u
data=$1; purge=$2
systemctl disable tideline-agent.service >/dev/null 2>&1 || true
rm -f ${UNIT_PATH}
systemctl daemon-reload || true
rm -rf ${INSTALL_ROOT}
if [ "$purge" = yes ]; then
  rm -rf "$data"
  if getent passwd tideline >/dev/null; then userdel tideline 2>/dev/null || true; fi
  if getent group tideline >/dev/null; then groupdel tideline 2>/dev/null || true; fi
fi
echo removed
`;

// ───────────────────────────── the procedures ─────────────────────────────

class Steps {
  private index = -1;
  constructor(
    private readonly names: readonly string[],
    private readonly onProgress?: (progress: StepProgress) => void,
  ) {}

  start(name: string): void {
    this.index = this.names.indexOf(name);
    this.onProgress?.({ step: name, index: this.index, of: this.names.length });
  }

  fraction(name: string, fraction: number): void {
    this.onProgress?.({ step: name, index: this.index, of: this.names.length, fraction });
  }
}

/** What a deploy changed on a host, undone in reverse if a later step fails. */
interface Undo {
  readonly what: string;
  readonly run: () => Promise<unknown>;
}

export async function inspectHost(shell: RemoteShell, dataDir: string): Promise<HostFacts> {
  const out = await shell.rootOk('Checking the host', CHECK_SCRIPT, [dataDir]);
  const facts = new Map<string, string>();
  for (const line of out.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) facts.set(line.slice(0, at), line.slice(at + 1));
  }
  let installed: HostFacts['installed'];
  try {
    const parsed = JSON.parse(facts.get('installed') ?? '') as {
      version?: unknown;
      protocolVersion?: unknown;
    };
    if (typeof parsed.version === 'string' && typeof parsed.protocolVersion === 'number') {
      installed = { version: parsed.version, protocolVersion: parsed.protocolVersion };
    }
  } catch {
    installed = undefined;
  }
  const kib = (key: string): number => Number(facts.get(key) ?? 0) || 0;
  return {
    arch: facts.get('arch') ?? '',
    systemd: facts.get('systemd') === 'yes',
    libvirt: facts.get('libvirt') === 'yes',
    ...(installed !== undefined && { installed }),
    initialized: facts.get('initialized') === 'yes',
    freeKiB: { opt: kib('free_opt'), tmp: kib('free_tmp'), data: kib('free_data') },
  };
}

function choosePackage(
  host: string,
  facts: HostFacts,
  packages: readonly AgentPackage[],
): AgentPackage {
  const arch = archOf(facts.arch);
  const fitting = packages.filter((p) => p.info.arch === arch);
  const chosen = fitting.sort((a, b) =>
    b.info.version.localeCompare(a.info.version, 'en', { numeric: true }),
  )[0];
  if (arch === undefined || chosen === undefined) {
    throw new TidelineError(
      'NOT_FOUND',
      `${host} is a ${facts.arch || 'unknown'} machine and there is no agent package for it (build one with "npm run package:agent")`,
      { host, arch: facts.arch },
    );
  }
  const { protocolVersion } = chosen.info;
  if (protocolVersion < MIN_PROTOCOL_VERSION || protocolVersion > PROTOCOL_VERSION) {
    throw new TidelineError(
      'PROTOCOL_VERSION',
      `The agent package ${chosen.info.version} speaks protocol ${protocolVersion}; this console speaks ${MIN_PROTOCOL_VERSION}–${PROTOCOL_VERSION}: use a package built with this console`,
      { host, protocolVersion },
    );
  }
  return chosen;
}

/** Room for the upload (/tmp), the unpacked package (about 3× the tarball) and a data dir. */
function checkSpace(host: string, facts: HostFacts, pkg: AgentPackage, fresh: boolean): void {
  const needKiB = Math.ceil(pkg.info.tarball.bytes / 1024);
  const short: string[] = [];
  if (facts.freeKiB.tmp < needKiB + 1024) short.push(`/tmp (${mib(needKiB)} MiB for the upload)`);
  if (facts.freeKiB.opt < needKiB * 4)
    short.push(`${INSTALL_ROOT} (${mib(needKiB * 4)} MiB to unpack)`);
  if (fresh && facts.freeKiB.data < 256 * 1024) short.push('the data directory (256 MiB at least)');
  if (short.length > 0) {
    throw new TidelineError(
      'NO_SPACE',
      `${host} has too little free space in ${short.join(' and ')}: free some and deploy again. Nothing was changed.`,
      { host, freeKiB: facts.freeKiB },
    );
  }
}

const mib = (kib: number): number => Math.ceil(kib / 1024);

/** Uploads the tarball into a fresh temp dir of the login user; checks its sha256 there. */
async function upload(
  session: SshSession,
  pkg: AgentPackage,
  onFraction: (fraction: number) => void,
): Promise<{ dir: string; file: string }> {
  const made = await session.exec('mktemp -d /tmp/tideline-deploy.XXXXXXXX');
  const dir = made.stdout.trim();
  if (made.code !== 0 || !dir.startsWith('/tmp/tideline-deploy.')) {
    throw new TidelineError(
      'INTERNAL_ERROR',
      `Cannot make a temporary directory on ${session.target.host}`,
    );
  }
  const file = `${dir}/${pkg.info.tarball.file}`;
  try {
    await session.upload(pkg.path, file, (sent, total) => onFraction(total > 0 ? sent / total : 0));
    const sum = await session.exec(`sha256sum ${shellQuote(file)}`);
    if (sum.stdout.split(' ')[0] !== pkg.info.tarball.sha256) {
      throw new TidelineError(
        'INTERNAL_ERROR',
        `The package arrived damaged on ${session.target.host} (its sha256 differs): deploy again`,
      );
    }
  } catch (err) {
    await session.exec(`rm -rf ${shellQuote(dir)}`).catch(() => undefined);
    const df = await session.exec(`df -Pk /tmp | awk 'NR==2 {print $4}'`).catch(() => undefined);
    if (df !== undefined && Number(df.stdout.trim()) < Math.ceil(pkg.info.tarball.bytes / 1024)) {
      throw new TidelineError(
        'NO_SPACE',
        `${session.target.host} ran out of space in /tmp during the upload. Nothing was changed.`,
      );
    }
    throw err;
  }
  return { dir, file };
}

/**
 * Installs and starts an agent on a host that has none: package, service user, `init`, the
 * unit, READY. Returns the token and fingerprint init printed. A failure undoes what this run
 * did, in reverse, and says what (if anything) could not be undone.
 */
export async function deployAgent(options: DeployOptions): Promise<DeployedAgent> {
  const steps = new Steps(DEPLOY_STEPS, options.onProgress);
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const host = options.target.host;
  steps.start('Connect');
  const session = await SshSession.open(options.target);
  const undo: Undo[] = [];
  let uploaded: { dir: string } | undefined;
  try {
    const shell = new RemoteShell(session);
    steps.start('Check the host');
    const facts = await inspectHost(shell, dataDir);
    if (!facts.systemd) {
      throw new TidelineError(
        'CONFLICT',
        `${host} has no systemd (systemctl): the agent runs as a systemd service`,
      );
    }
    if (facts.initialized || facts.installed !== undefined) {
      throw new TidelineError(
        'ALREADY_EXISTS',
        `${host} already has an agent${facts.installed ? ` (${facts.installed.version})` : ''}${facts.initialized ? ` with data in ${dataDir}` : ''}: upgrade it, or undeploy it first`,
        { host },
      );
    }
    const pkg = choosePackage(host, facts, options.packages);
    checkSpace(host, facts, pkg, true);
    const hypervisor =
      options.hypervisor === 'auto' ? (facts.libvirt ? 'libvirt' : 'sim') : options.hypervisor;

    steps.start('Upload the package');
    uploaded = await upload(session, pkg, (f) => steps.fraction('Upload the package', f));

    steps.start('Install');
    const version = pkg.info.version;
    await shell.rootOk('Installing the package', INSTALL_SCRIPT, [
      `${uploaded.dir}/${pkg.info.tarball.file}`,
      version,
    ]);
    undo.push({
      what: `${INSTALL_ROOT}/${version}`,
      run: () =>
        shell.rootOk(
          'Removing the package',
          `rm -rf "${INSTALL_ROOT}/$1" ${INSTALL_ROOT}/current; rmdir ${INSTALL_ROOT} 2>/dev/null; true`,
          [version],
        ),
    });
    await shell.rootOk('Activating the package', ACTIVATE_SCRIPT, [version]);

    steps.start('Initialize the agent');
    const groups = hypervisor === 'libvirt' ? ['libvirt', 'libvirt-qemu', 'kvm'] : [];
    const created = (
      await shell.rootOk('Adding the service user', USER_SCRIPT, [dataDir, ...groups])
    ).split('\n');
    if (created.includes('created-data')) {
      undo.push({
        what: dataDir,
        run: () => shell.rootOk('Removing the data directory', 'rm -rf "$1"', [dataDir]),
      });
    }
    if (created.includes('created-user') || created.includes('created-group')) {
      undo.push({
        what: 'the tideline user',
        run: () =>
          shell.rootOk(
            'Removing the service user',
            'userdel tideline 2>/dev/null; groupdel tideline 2>/dev/null; true',
          ),
      });
    }
    const init = await shell.root(INIT_SCRIPT, [dataDir, options.site, hypervisor]);
    const token = /^token: (\S+)$/m.exec(init.stdout)?.[1];
    const fingerprint = /^fingerprint: (\S+)$/m.exec(init.stdout)?.[1];
    if (init.code !== 0 || token === undefined || fingerprint === undefined) {
      const why = init.stderr.trim().split('\n').at(-1) ?? `exit ${init.code}`;
      throw new TidelineError('INTERNAL_ERROR', `tideline-agent init failed on ${host}: ${why}`, {
        host,
      });
    }

    steps.start('Start the service');
    const template = await readFile(options.unitTemplatePath, 'utf8');
    const unit = renderAgentUnit(template, {
      installDir: `${INSTALL_ROOT}/current`,
      dataDir,
      listen: options.listen,
      groups: groups.filter((g) => g !== 'kvm'),
    });
    undo.push({
      what: UNIT_PATH,
      run: () =>
        shell.rootOk(
          'Removing the service',
          `systemctl stop tideline-agent.service; systemctl disable tideline-agent.service; rm -f ${UNIT_PATH}; systemctl daemon-reload; true`,
        ),
    });
    await shell.rootOk('Installing the service', UNIT_SCRIPT, [unit]);
    await shell.rootOk('Starting the service', START_SCRIPT, [dataDir], START_TIMEOUT_MS);
    return { version, arch: pkg.info.arch, token, fingerprint, hypervisor };
  } catch (err) {
    throw await undone(err, undo, host);
  } finally {
    if (uploaded !== undefined)
      await session.exec(`rm -rf ${shellQuote(uploaded.dir)}`).catch(() => undefined);
    session.close();
  }
}

export interface UpgradeOptions {
  readonly target: SshTarget;
  readonly packages: readonly AgentPackage[];
  readonly dataDir?: string;
  readonly onProgress?: (progress: StepProgress) => void;
}

/**
 * Replaces the agent's program with a newer package and restarts the service; the data
 * directory (identity, pairing, journals) stays. If the new version does not come up, the
 * previous one is put back and started.
 */
export async function upgradeAgent(options: UpgradeOptions): Promise<{ from: string; to: string }> {
  const steps = new Steps(UPGRADE_STEPS, options.onProgress);
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const host = options.target.host;
  steps.start('Connect');
  const session = await SshSession.open(options.target);
  let uploaded: { dir: string } | undefined;
  try {
    const shell = new RemoteShell(session);
    steps.start('Check the host');
    const facts = await inspectHost(shell, dataDir);
    if (facts.installed === undefined || !facts.initialized) {
      throw new TidelineError('NOT_FOUND', `${host} has no deployed agent to upgrade: deploy one`, {
        host,
      });
    }
    const pkg = choosePackage(host, facts, options.packages);
    const from = facts.installed.version;
    if (pkg.info.version === from) {
      throw new TidelineError('CONFLICT', `${host} already runs agent ${from}`, { host });
    }
    checkSpace(host, facts, pkg, false);
    steps.start('Upload the package');
    uploaded = await upload(session, pkg, (f) => steps.fraction('Upload the package', f));
    steps.start('Install');
    await shell.rootOk('Installing the package', INSTALL_SCRIPT, [
      `${uploaded.dir}/${pkg.info.tarball.file}`,
      pkg.info.version,
    ]);
    steps.start('Restart the service');
    await shell.rootOk('Stopping the service', STOP_SCRIPT);
    const previous = (
      await shell.rootOk('Activating the package', ACTIVATE_SCRIPT, [pkg.info.version])
    ).trim();
    try {
      await shell.rootOk('Starting the service', START_SCRIPT, [dataDir], START_TIMEOUT_MS);
    } catch (err) {
      if (previous !== '') {
        await shell
          .rootOk('Putting the previous version back', ACTIVATE_SCRIPT, [previous])
          .catch(() => undefined);
        await shell.root(START_SCRIPT, [dataDir], START_TIMEOUT_MS).catch(() => undefined);
      }
      throw new TidelineError(
        'INTERNAL_ERROR',
        `Agent ${pkg.info.version} did not start on ${host} (${messageOf(err)}); version ${from} was started again`,
        { host },
      );
    }
    await shell.root(
      `cd ${INSTALL_ROOT} && for d in */; do d=\${d%/}; [ "$d" = "$1" ] || [ "$d" = current ] || rm -rf "$d"; done`,
      [pkg.info.version],
    );
    return { from, to: pkg.info.version };
  } finally {
    if (uploaded !== undefined)
      await session.exec(`rm -rf ${shellQuote(uploaded.dir)}`).catch(() => undefined);
    session.close();
  }
}

export interface UndeployOptions {
  readonly target: SshTarget;
  readonly dataDir?: string;
  /** Also delete the data directory: every replica, journal and the agent's identity. */
  readonly deleteData: boolean;
  readonly onProgress?: (progress: StepProgress) => void;
}

/** Stops and removes the service and the program; the data stays unless deleteData. */
export async function undeployAgent(options: UndeployOptions): Promise<{ dataDeleted: boolean }> {
  const steps = new Steps(UNDEPLOY_STEPS, options.onProgress);
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  steps.start('Connect');
  const session = await SshSession.open(options.target);
  try {
    const shell = new RemoteShell(session);
    steps.start('Stop the service');
    await shell.rootOk('Stopping the service', STOP_SCRIPT);
    steps.start('Remove');
    await shell.rootOk('Removing the agent', REMOVE_SCRIPT, [
      dataDir,
      options.deleteData ? 'yes' : 'no',
    ]);
    return { dataDeleted: options.deleteData };
  } finally {
    session.close();
  }
}

async function undone(err: unknown, undo: Undo[], host: string): Promise<TidelineError> {
  const left: string[] = [];
  for (const step of undo.reverse()) {
    try {
      await step.run();
    } catch {
      left.push(step.what);
    }
  }
  const error = isTidelineError(err)
    ? err
    : new TidelineError('INTERNAL_ERROR', `Deploying to ${host} failed: ${messageOf(err)}`, {
        host,
      });
  if (left.length === 0) return error;
  return new TidelineError(
    error.code,
    `${error.message}. Could not undo on ${host}: ${left.join(', ')} (remove by hand)`,
    { ...error.data, left },
  );
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
