import { TidelineError } from '../../app/errors';
import type { AgentMethods, Handlers } from '../../app/protocol';
import type { AlertStore } from '../alerts/alert-store';
import type { Session } from './session';

type AlertMethods = keyof AgentMethods & `alert.${string}`;

/** alert.list and alert.ack over the daemon's alert store; absent: they answer UNAVAILABLE. */
export function createAlertHandlers(
  alerts: Pick<AlertStore, 'list' | 'ack'> | undefined,
): Pick<Handlers<AgentMethods, Session>, AlertMethods> {
  if (alerts === undefined) {
    const unavailable = (): never => {
      throw new TidelineError('UNAVAILABLE', 'Alerts are not available on this agent');
    };
    return { 'alert.list': unavailable, 'alert.ack': unavailable };
  }
  return {
    'alert.list': (params) => alerts.list(params ?? {}),
    'alert.ack': (params) => alerts.ack(params.alertId),
  };
}
