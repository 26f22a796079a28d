import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { Session } from './session';

type TaskMethods = keyof AgentMethods & `task.${string}`;

/** task.*: served by the daemon's task manager (being built). */
export function createTaskHandlers(): Pick<Handlers<AgentMethods, Session>, TaskMethods> {
  const notYet = (): never => {
    throw new TidelineError('UNAVAILABLE', 'Tasks are not available in this agent version yet');
  };
  return {
    'task.list': notYet,
    'task.get': notYet,
    'task.completionCode': notYet,
    'task.result': notYet,
    'task.exception': notYet,
    'task.waitFor': notYet,
    'task.abort': notYet,
  };
}
