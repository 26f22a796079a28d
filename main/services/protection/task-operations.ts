import { TidelineError, toTidelineError } from '../../../app/errors';
import type { ParamsOut } from '../../../app/protocol';
import type { ConsoleMethods } from '../../../app/protocol/console-api';
import type { ProtectionTask, ProtectionTasks } from '../../../app/protocol/console-tasks-api';
import type { AgentConnection } from '../agents/agent-connection';
import { refused } from '../estate/site-lookup';
import type { Logger } from '../util/log';

/** What these operations use of an agent connection (a fake one in unit tests). */
export type TaskAgent = Pick<AgentConnection, 'key' | 'agentIdentity' | 'isConnected' | 'call'>;

/**
 * tasks.history: task.list of every connected agent at once, merged newest first. The console
 * keeps no task history of its own (the agents keep theirs, 500 each, across restarts); an
 * agent that cannot answer is logged and left out rather than failing the whole list.
 */
export async function taskHistory(
  agents: readonly TaskAgent[],
  params: ParamsOut<ConsoleMethods, 'tasks.history'>,
  logger: Logger,
): Promise<ProtectionTasks> {
  const { vpgId, limit } = params;
  const lists = await Promise.all(
    agents.map(async (agent): Promise<ProtectionTask[]> => {
      const siteId = agent.agentIdentity?.siteId;
      if (!agent.isConnected || siteId === undefined) return [];
      try {
        const tasks = await agent.call('task.list', {
          limit,
          ...(vpgId !== undefined && { vpgId }),
        });
        return tasks.map((task) => ({ ...task, siteId, agentKey: agent.key }));
      } catch (err) {
        const e = toTidelineError(err);
        logger.warn({ key: agent.key, code: e.code, reason: e.message }, 'task.list failed');
        return [];
      }
    }),
  );
  const tasks = lists.flat().sort((a, b) => b.startedAt - a.startedAt);
  return { tasks: tasks.slice(0, limit) };
}

/** tasks.abort: task.abort through the agent that runs the task; its refusal passed on. */
export async function abortTask(agent: TaskAgent, taskId: string): Promise<ProtectionTask> {
  const siteId = agent.agentIdentity?.siteId;
  if (!agent.isConnected || siteId === undefined) {
    throw new TidelineError(
      'UNAVAILABLE',
      'The agent that runs this task is not connected: it cannot be asked to abort it now.',
      { agentKey: agent.key, taskId },
    );
  }
  const task = await agent.call('task.abort', { taskId }).catch((err: unknown) => {
    throw refused(err, 'The agent did not abort the task');
  });
  return { ...task, siteId, agentKey: agent.key };
}
