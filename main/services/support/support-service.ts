import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TidelineError, toTidelineError } from '../../../app/errors';
import type {
  AgentIdentity,
  ParamsOut,
  ConsoleMethods,
  SupportAgentProgress,
  SupportCollection,
} from '../../../app/protocol';
import { filterLogLine } from '../../../app/support/log-filter';
import { Redactor } from '../../../app/support/redact';
import { drop } from '../util/drop';
import type { Logger } from '../util/log';
import { CONSOLE_VERSION } from '../version';
import { fetchAgentBundle, type BundleSource } from './agent-bundle';
import { packFolder } from './archive';
import { extractRedacted } from './bundle-extract';

/** An agent as the support service sees it. */
export interface SupportAgent {
  readonly key: string;
  readonly address: string;
  readonly identity: AgentIdentity | undefined;
  readonly connected: boolean;
  /** Its admin token: a secret the archive must not hold. */
  readonly token: string;
  readonly source: BundleSource;
}

export interface SupportServiceOptions {
  readonly logger: Logger;
  readonly agents: () => readonly SupportAgent[];
  /** The console's recent log lines (log-ring.ts). */
  readonly logLines: () => readonly string[];
  readonly changed: (collection: SupportCollection) => void;
  /** An archive nobody discarded is deleted this long after it was made (default 1 h). */
  readonly ttlMs?: number;
}

type CollectParams = ParamsOut<ConsoleMethods, 'support.collect'>;

interface Collection {
  view: SupportCollection;
  readonly dir: string;
  readonly file: string;
  lastEmit: number;
  expiry?: NodeJS.Timeout;
}

/** Collections kept at most; the oldest is deleted first. */
const MAX_KEPT = 3;
const EMIT_INTERVAL_MS = 500;
/** Agents collecting at once. */
const PARALLEL = 4;

/**
 * support.*: support bundles of several agents in one archive. Each agent collects its own
 * (log.collect) and the console downloads it, unpacks it through its Redactor (which knows
 * every agent's token) under `<site>-<host>/`, adds its own log (console/console.log) and
 * problems.json (agents offline or failed: reported, not fatal), and packs one tar.gz in a
 * private temp folder. The renderer reads it in chunks; it is deleted when discarded, after
 * the TTL, beyond MAX_KEPT, and when the console stops.
 */
export class SupportService {
  private readonly collections = new Map<string, Collection>();
  private root: Promise<string> | undefined;

  constructor(private readonly options: SupportServiceOptions) {}

  async collect(params: CollectParams): Promise<SupportCollection> {
    const known = new Map(this.options.agents().map((a) => [a.key, a]));
    const unknown = params.agentKeys.filter((k) => !known.has(k));
    if (unknown.length > 0) {
      throw new TidelineError(
        'NOT_FOUND',
        `No agent with key ${unknown.join(', ')} in this console`,
        { unknown },
      );
    }
    const collectionId = randomUUID();
    this.root ??= mkdtemp(join(tmpdir(), 'tideline-support-'));
    const dir = join(await this.root, collectionId);
    await mkdir(join(dir, 'staging'), { recursive: true, mode: 0o700 });
    const startedAt = Date.now();
    const stamp = new Date(startedAt).toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const agents = params.agentKeys.map((k) => known.get(k) as SupportAgent);
    const collection: Collection = {
      dir,
      file: join(dir, 'bundle.tar.gz'),
      lastEmit: 0,
      view: {
        collectionId,
        state: 'collecting',
        progress: 0,
        agents: agents.map((a) => ({
          agentKey: a.key,
          name: nameOf(a),
          state: 'waiting',
          progress: 0,
        })),
        fileName: `tideline-support-${stamp}.tar.gz`,
        startedAt,
      },
    };
    this.collections.set(collectionId, collection);
    await this.trim();
    drop(this.run(collection, agents, params), (err: unknown) => {
      const error = toTidelineError(err, 'The support bundle could not be written');
      this.options.logger.error({ err, collectionId }, 'support bundle failed');
      this.update(collection, { state: 'failed', error: error.message }, true);
    });
    return collection.view;
  }

  get(collectionId: string): SupportCollection {
    return this.require(collectionId).view;
  }

  async read(collectionId: string, offset: number, length: number) {
    const c = this.require(collectionId);
    const bytes = c.view.bytes;
    if (c.view.state !== 'ready' || bytes === undefined) {
      throw new TidelineError(
        'CONFLICT',
        'The support bundle is not ready yet: wait for support.progress to say ready',
        { collectionId },
      );
    }
    if (offset > bytes) {
      throw new TidelineError(
        'INVALID_PARAMS',
        `Offset ${offset} is past the end of the bundle (${bytes} bytes)`,
        { offset, bytes },
      );
    }
    const want = Math.min(length, bytes - offset);
    const buffer = Buffer.alloc(want);
    const handle = await open(c.file, 'r');
    try {
      const { bytesRead } = await handle.read(buffer, 0, want, offset);
      return {
        offset,
        data: buffer.subarray(0, bytesRead).toString('base64'),
        eof: offset + bytesRead >= bytes,
      };
    } finally {
      await handle.close();
    }
  }

  async discard(collectionId: string): Promise<{ discarded: boolean }> {
    const c = this.collections.get(collectionId);
    if (c === undefined) return { discarded: false };
    this.collections.delete(collectionId);
    if (c.expiry !== undefined) clearTimeout(c.expiry);
    await rm(c.dir, { recursive: true, force: true });
    return { discarded: true };
  }

  async close(): Promise<void> {
    for (const c of this.collections.values()) if (c.expiry !== undefined) clearTimeout(c.expiry);
    this.collections.clear();
    const root = this.root;
    this.root = undefined;
    if (root !== undefined) await rm(await root.catch(() => ''), { recursive: true, force: true });
  }

  // ───────────────────────── internals ─────────────────────────

  private async run(
    c: Collection,
    agents: readonly SupportAgent[],
    params: CollectParams,
  ): Promise<void> {
    const staging = join(c.dir, 'staging');
    // Every agent's token, not only the chosen ones': a bundle may mention any of them.
    const redactor = new Redactor(this.options.agents().map((a) => a.token));
    const { agentKeys: _keys, ...request } = params;
    const folders = new Set<string>();
    const problems: { agent: string; address: string; error: string }[] = [];
    const queue = agents.map((agent, index) => ({ agent, index }));
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const { agent, index } = next;
        const folder = unique(folders, folderName(agent));
        try {
          if (!agent.connected) {
            throw new TidelineError(
              'UNAVAILABLE',
              `The agent at ${agent.address} is not connected`,
            );
          }
          const archive = join(c.dir, `${index}.tar.gz`);
          await fetchAgentBundle(agent.source, request, archive, (state, fraction) =>
            this.agentUpdate(c, index, {
              state,
              progress: state === 'collecting' ? fraction * 0.5 : 0.5 + fraction * 0.5,
            }),
          );
          await extractRedacted(archive, join(staging, folder), redactor);
          await rm(archive, { force: true });
          this.agentUpdate(c, index, { state: 'done', progress: 1 }, true);
        } catch (err) {
          const error = toTidelineError(err, 'Unexpected error while collecting from this agent');
          this.options.logger.warn(
            { agent: agent.key, code: error.code, reason: error.message },
            'support bundle: an agent failed',
          );
          problems.push({ agent: nameOf(agent), address: agent.address, error: error.message });
          await rm(join(staging, folder), { recursive: true, force: true });
          this.agentUpdate(
            c,
            index,
            { state: 'failed', progress: 1, message: error.message },
            true,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, agents.length) }, worker));
    await this.writeConsoleFiles(staging, c, params, problems, redactor);
    const packed = await packFolder(staging, c.file);
    await rm(staging, { recursive: true, force: true });
    c.expiry = setTimeout(
      () => drop(this.discard(c.view.collectionId), () => undefined),
      this.options.ttlMs ?? 3_600_000,
    );
    c.expiry.unref();
    this.options.logger.info(
      { collectionId: c.view.collectionId, bytes: packed.bytes, problems: problems.length },
      'support bundle ready',
    );
    this.update(
      c,
      { state: 'ready', progress: 1, bytes: packed.bytes, sha256: packed.sha256 },
      true,
    );
  }

  private async writeConsoleFiles(
    staging: string,
    c: Collection,
    params: CollectParams,
    problems: readonly object[],
    redactor: Redactor,
  ): Promise<void> {
    await mkdir(join(staging, 'console'), { recursive: true, mode: 0o700 });
    const window = { fromTime: params.fromTime, toTime: params.toTime, level: params.level };
    const lines = this.options.logLines().flatMap((l) => filterLogLine(l, window, redactor) ?? []);
    await writeFile(join(staging, 'console', 'console.log'), lines.map((l) => `${l}\n`).join(''), {
      mode: 0o600,
    });
    await writeFile(join(staging, 'problems.json'), redactor.json(problems), { mode: 0o600 });
    const { agentKeys: _keys, ...asked } = params;
    const manifest = {
      product: 'Tideline support bundle',
      consoleVersion: CONSOLE_VERSION,
      createdAt: new Date().toISOString(),
      asked,
      agents: c.view.agents.map(({ name, state, message }) => ({
        name,
        state,
        ...(message !== undefined && { message }),
      })),
      redactions: redactor.count,
    };
    await writeFile(join(staging, 'manifest.json'), redactor.json(manifest), { mode: 0o600 });
  }

  private agentUpdate(
    c: Collection,
    index: number,
    patch: Partial<SupportAgentProgress>,
    force = false,
  ): void {
    const agents = c.view.agents.map((a, i) => (i === index ? { ...a, ...patch } : a));
    const progress = (agents.reduce((n, a) => n + a.progress, 0) / agents.length) * 0.95;
    this.update(c, { agents, progress }, force);
  }

  private update(c: Collection, patch: Partial<SupportCollection>, force: boolean): void {
    c.view = { ...c.view, ...patch };
    const now = Date.now();
    if (!force && now - c.lastEmit < EMIT_INTERVAL_MS) return;
    c.lastEmit = now;
    this.options.changed(c.view);
  }

  private async trim(): Promise<void> {
    const excess = [...this.collections.values()].slice(
      0,
      Math.max(0, this.collections.size - MAX_KEPT),
    );
    for (const c of excess) await this.discard(c.view.collectionId);
  }

  private require(collectionId: string): Collection {
    const c = this.collections.get(collectionId);
    if (c === undefined) {
      throw new TidelineError(
        'NOT_FOUND',
        `No support bundle ${collectionId}: it was saved and discarded, or it expired. Collect it again.`,
        { collectionId },
      );
    }
    return c;
  }
}

function nameOf(agent: SupportAgent): string {
  return agent.identity === undefined
    ? agent.address
    : `${agent.identity.siteName} / ${agent.identity.hostName}`;
}

/** `<site>-<host>`, in the characters an archive name may hold. */
function folderName(agent: SupportAgent): string {
  const raw =
    agent.identity === undefined
      ? agent.address
      : `${agent.identity.siteName}-${agent.identity.hostName}`;
  return (
    raw
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 80) || 'agent'
  );
}

function unique(taken: Set<string>, name: string): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate); n += 1) candidate = `${name}-${n}`;
  taken.add(candidate);
  return candidate;
}
