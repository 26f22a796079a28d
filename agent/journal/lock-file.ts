import { hostname } from 'node:os';
import { open, readFile, rm } from 'node:fs/promises';
import { isErrno } from '../store/json-file';
import { JournalLockedError } from './errors';

/**
 * An advisory lock held by the process that has a journal open: a file created exclusively,
 * holding "pid host". Node has no flock(), so a lock left by a crashed process is recognised by
 * its pid no longer running on this host and taken over. (A pid reused by an unrelated process
 * keeps the lock; the message names the pid so an admin can check and delete the file.)
 */
export class LockFile {
  private released = false;

  private constructor(readonly path: string) {}

  static async acquire(path: string): Promise<LockFile> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const handle = await open(path, 'wx', 0o600);
        try {
          await handle.writeFile(`${process.pid} ${hostname()}\n`);
        } finally {
          await handle.close();
        }
        return new LockFile(path);
      } catch (err) {
        if (!isErrno(err, 'EEXIST') || attempt > 0) throw lockedOr(err, path);
        const holder = await readHolder(path);
        if (holder !== undefined && isAlive(holder)) {
          throw new JournalLockedError(path, `process ${holder.pid} on ${holder.host}`);
        }
        await rm(path, { force: true }); // a crashed holder's lock (or an unreadable one)
      }
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await rm(this.path, { force: true });
  }
}

interface Holder {
  readonly pid: number;
  readonly host: string;
}

async function readHolder(path: string): Promise<Holder | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, host] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || host === undefined) return undefined;
  return { pid, host };
}

function isAlive(holder: Holder): boolean {
  // A lock from another host (a shared file system) cannot be checked: assume it is held.
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM'); // exists, owned by someone else
  }
}

function lockedOr(err: unknown, path: string): unknown {
  return isErrno(err, 'EEXIST') ? new JournalLockedError(path, 'another process') : err;
}
