import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { TidelineError, isTidelineError } from '../../../app/errors';
import {
  SUPPORT_CHUNK_MAX_BYTES,
  SupportBundleSchema,
  type AgentMethods,
  type ParamsIn,
  type ResultOut,
  type SupportBundle,
  type Task,
} from '../../../app/protocol';

/** What fetching a bundle needs of an agent connection. */
export interface BundleSource {
  call<M extends keyof AgentMethods & string>(
    method: M,
    params?: ParamsIn<AgentMethods, M>,
    opts?: { timeoutMs?: number },
  ): Promise<ResultOut<AgentMethods, M>>;
}

export type LogCollectRequest = ParamsIn<AgentMethods, 'log.collect'>;

/** A collection on an agent that has not ended by then is given up. */
const COLLECT_DEADLINE_MS = 10 * 60 * 1000;
const WAIT_STEP_MS = 1000;

/**
 * One agent's part of a support bundle: log.collect, follow its task, check the result is a
 * bundle (the agent is not trusted to answer sensibly), download it chunk by chunk into
 * `dest` with every offset and the size checked against what the agent declared and the
 * SHA-256 checked at the end, then tell the agent it can delete it.
 */
export async function fetchAgentBundle(
  agent: BundleSource,
  request: LogCollectRequest,
  dest: string,
  progress: (state: 'collecting' | 'downloading', fraction: number) => void,
): Promise<SupportBundle> {
  const { taskId } = await agent.call('log.collect', request);
  const task = await untilEnded(agent, taskId, (p) => progress('collecting', p));
  if (task.completionCode !== 'Success') {
    throw new TidelineError(
      'UNAVAILABLE',
      `The agent could not collect its bundle: ${task.exception ?? task.completionCode}`,
      { taskId },
    );
  }
  const parsed = SupportBundleSchema.safeParse(task.result);
  if (!parsed.success) {
    throw new TidelineError(
      'INVALID_RESULT',
      'The agent answered with something else than a support bundle',
      { taskId },
    );
  }
  const bundle = parsed.data;
  try {
    await download(agent, bundle, dest, (done) =>
      progress('downloading', bundle.bytes === 0 ? 1 : done / bundle.bytes),
    );
  } finally {
    // Best effort: it expires on the agent anyway.
    await agent.call('log.bundleRemove', { bundleId: bundle.bundleId }).catch(() => undefined);
  }
  return bundle;
}

async function untilEnded(
  agent: BundleSource,
  taskId: string,
  progress: (fraction: number) => void,
): Promise<Task> {
  const deadline = Date.now() + COLLECT_DEADLINE_MS;
  for (;;) {
    try {
      return await agent.call(
        'task.waitFor',
        { taskId, timeoutMs: WAIT_STEP_MS },
        { timeoutMs: WAIT_STEP_MS + 15_000 },
      );
    } catch (err) {
      if (!isTidelineError(err) || err.code !== 'TIMEOUT') throw err;
      const fraction = err.data?.['progress'];
      if (typeof fraction === 'number') progress(Math.min(1, Math.max(0, fraction)));
      if (Date.now() > deadline) {
        throw new TidelineError(
          'TIMEOUT',
          'The agent took more than 10 minutes to collect its bundle',
          { taskId },
        );
      }
    }
  }
}

async function download(
  agent: BundleSource,
  bundle: SupportBundle,
  dest: string,
  progress: (done: number) => void,
): Promise<void> {
  const file = await open(dest, 'wx', 0o600);
  const hash = createHash('sha256');
  let offset = 0;
  try {
    while (offset < bundle.bytes) {
      const length = Math.min(SUPPORT_CHUNK_MAX_BYTES, bundle.bytes - offset);
      const chunk = await agent.call('log.bundleRead', {
        bundleId: bundle.bundleId,
        offset,
        length,
      });
      const data = Buffer.from(chunk.data, 'base64');
      if (chunk.offset !== offset || data.length === 0 || data.length > length) {
        throw new TidelineError(
          'INVALID_RESULT',
          `The agent sent a wrong chunk of its bundle (at ${chunk.offset}, ${data.length} bytes; asked ${length} at ${offset})`,
        );
      }
      await file.write(data, 0, data.length, offset);
      hash.update(data);
      offset += data.length;
      progress(offset);
    }
  } finally {
    await file.close();
  }
  if (hash.digest('hex') !== bundle.sha256) {
    throw new TidelineError(
      'INVALID_RESULT',
      'The bundle downloaded from the agent does not match its SHA-256',
    );
  }
}
