import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { TaskManager } from '../tasks/task-manager';
import type { Session } from './session';

type TaskMethods = keyof AgentMethods & `task.${string}`;

/**
 * task.*: served by the daemon's task manager. Without one (unit tests of the other
 * handlers) every method answers UNAVAILABLE.
 */
export function createTaskHandlers(
  manager: TaskManager | undefined,
): Pick<Handlers<AgentMethods, Session>, TaskMethods> {
  const tasks = (): TaskManager => {
    if (manager === undefined) {
      throw new TidelineError('UNAVAILABLE', 'Tasks are not available on this agent');
    }
    return manager;
  };
  return {
    'task.list': (params) => tasks().list(params ?? {}),
    'task.get': ({ taskId }) => tasks().get(taskId),
    'task.completionCode': ({ taskId }) => ({
      taskId,
      completionCode: tasks().get(taskId).completionCode,
    }),
    'task.result': ({ taskId }) => {
      const { result } = tasks().get(taskId);
      return result === undefined ? { taskId } : { taskId, result };
    },
    'task.exception': ({ taskId }) => {
      const { exception } = tasks().get(taskId);
      return exception === undefined ? { taskId } : { taskId, exception };
    },
    'task.waitFor': ({ taskId, timeoutMs }) => tasks().waitFor(taskId, timeoutMs),
    'task.abort': ({ taskId }) => tasks().abort(taskId),
  };
}
