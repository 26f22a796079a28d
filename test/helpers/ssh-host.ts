/**
 * A disposable hypervisor host for the deployer's tests: a real OpenSSH sshd on 127.0.0.1,
 * running in private namespaces (unshare: mount and pid) so that the host's /etc, /usr,
 * /opt, /var/lib, /home are copy-on-write overlays of this machine's (and /run, /tmp its own): what a deploy
 * installs, the users it adds and the services it starts are gone when the host is stopped.
 * Inside:
 * - no Node (node, npm, npx, corepack removed from the /usr overlay);
 * - a login user `deployer` with a password and sudo that asks for it, and a key pair;
 * - /usr/bin/systemctl replaced by the recorded stand-in (systemctl-standin.py), as CI has
 *   no systemd as PID 1;
 * - optionally a small /opt (a tmpfs with a size) to fill up.
 * It shares this machine's network namespace, so a deployed agent listens on 127.0.0.1 too.
 * Needs root, unshare, sshd, sudo and python3.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, reservePorts } from './agents';

const run = promisify(execFile);

export interface SshHost {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** OpenSSH private key (PEM) authorized for the user. */
  readonly privateKey: string;
  /** `SHA256:…` of the host's ed25519 key, as ssh-keygen -lf prints it. */
  readonly hostKeyFingerprint: string;
  /** A path under which the host's files are seen from outside (/proc/PID/root). */
  readonly root: string;
  /** Runs a shell command inside the host (as root); resolves with its stdout. */
  sh(command: string): Promise<string>;
  /** The systemctl stand-in's record: one entry per call. */
  systemctlCalls(): Promise<{ argv: string[]; code: number }[]>;
  /** A new host key (the host was "reinstalled"): sshd is restarted with it. */
  rotateHostKey(): Promise<string>;
  stop(): Promise<void>;
}

export interface SshHostOptions {
  /** A tmpfs of this size over /opt (the package does not fit: a full disk). */
  readonly optMiB?: number;
}

const PASSWORD = 'correct horse battery staple';

export async function have(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

/** Why the host cannot run here, or undefined. */
export async function sshHostUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (namespaces, overlays)';
  for (const tool of ['unshare', 'sudo', 'python3', 'ssh-keygen']) {
    if (!(await have(tool))) return `needs ${tool}`;
  }
  if (!(await have('/usr/sbin/sshd'))) return 'needs sshd (openssh-server)';
  return undefined;
}

export async function startSshHost(options: SshHostOptions = {}): Promise<SshHost> {
  // Under /var/tmp, not /tmp: the host gets a private /tmp, which would hide it.
  const work = await mkdtemp('/var/tmp/tideline-sshhost-');
  const [port] = [await reservePorts(1)];
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'host_key')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'user_key')]);
  await copyFile(
    join(REPO_ROOT, 'test', 'helpers', 'systemctl-standin.py'),
    join(work, 'systemctl'),
  );
  await writeFile(
    join(work, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(work, 'host_key')}`,
      `PidFile ${join(work, 'sshd.pid')}`,
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'AuthorizedKeysFile .ssh/authorized_keys',
      'PermitRootLogin no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const overlays = ['etc', 'usr', 'opt', 'var/lib', 'home', 'var/log'];
  const script = [
    'set -e',
    ...overlays.map((d) => {
      const n = d.replace('/', '_');
      return `mkdir -p ${work}/${n}-up ${work}/${n}-work && mount -t overlay overlay -o lowerdir=/${d},upperdir=${work}/${n}-up,workdir=${work}/${n}-work /${d}`;
    }),
    options.optMiB === undefined ? ':' : `mount -t tmpfs -o size=${options.optMiB}m tmpfs /opt`,
    'mount -t tmpfs -o mode=0755 tmpfs /run',
    'mount -t tmpfs -o mode=1777 tmpfs /tmp',
    'mkdir -p /run/sshd',
    'rm -f /usr/bin/node /usr/bin/nodejs /usr/bin/npm /usr/bin/npx /usr/bin/corepack',
    `install -m 0755 ${work}/systemctl /usr/bin/systemctl`,
    'useradd -m -s /bin/sh deployer',
    `echo 'deployer:${PASSWORD}' | chpasswd`,
    "echo 'deployer ALL=(ALL:ALL) ALL' > /etc/sudoers.d/deployer && chmod 0440 /etc/sudoers.d/deployer",
    'mkdir -p /home/deployer/.ssh',
    `cp ${work}/user_key.pub /home/deployer/.ssh/authorized_keys`,
    'chown -R deployer:deployer /home/deployer/.ssh',
    `echo ready > ${work}/ready`,
    // sshd stays in the foreground; a restart (new host key) re-runs it.
    `while :; do /usr/sbin/sshd -D -e -f ${work}/sshd_config 2>>${work}/sshd.log; [ -e ${work}/rotate ] || break; rm -f ${work}/rotate; done`,
  ].join('\n');
  const child: ChildProcess = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', 'sh', '-c', script],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let errors = '';
  child.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
  // The namespace's init is unshare's child: its /proc/PID/root shows the host's files.
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await readFile(join(work, 'ready'));
      break;
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the SSH test host did not start: ${errors}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const inner = Number(
    (await run('pgrep', ['-P', String(child.pid), '-o'])).stdout.trim().split('\n')[0],
  );
  const root = `/proc/${inner}/root`;
  await waitForPort(port, () => errors);
  const fingerprint = async (): Promise<string> =>
    (await run('ssh-keygen', ['-lf', join(work, 'host_key.pub')])).stdout.split(' ')[1] ?? '';
  return {
    host: '127.0.0.1',
    port,
    user: 'deployer',
    password: PASSWORD,
    privateKey: await readFile(join(work, 'user_key'), 'utf8'),
    hostKeyFingerprint: await fingerprint(),
    root,
    async sh(command) {
      const { stdout } = await run('nsenter', [
        '-t',
        String(inner),
        '-m',
        '-p',
        'sh',
        '-c',
        command,
      ]);
      return stdout;
    },
    async systemctlCalls() {
      try {
        const text = await readFile(join(root, 'var', 'log', 'systemctl-standin.log'), 'utf8');
        return text
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { argv: string[]; code: number });
      } catch {
        return [];
      }
    },
    async rotateHostKey() {
      await run('rm', ['-f', join(work, 'host_key'), join(work, 'host_key.pub')]);
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'host_key')]);
      await writeFile(join(work, 'rotate'), '');
      const pid = (await readFile(join(work, 'sshd.pid'), 'utf8')).trim();
      await run('nsenter', ['-t', String(inner), '-p', 'kill', pid]).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      await waitForPort(port, () => errors);
      return fingerprint();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // Listened for before the kill: unshare may exit before `kill` itself has returned, and
        // a listener added after that waits for good (the test then ends with its hook pending).
        const exited = once(child, 'exit');
        // Killing the pid namespace's init ends every process in it (sshd, a deployed agent).
        await run('kill', ['-KILL', String(inner)]).catch(() => undefined);
        await exited;
      }
      await rm(work, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

async function waitForPort(port: number, errors: () => string): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${errors()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
