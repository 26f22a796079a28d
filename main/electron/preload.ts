/**
 * Sandboxed preload (bundled to CommonJS; requires only 'electron'). Exposes the ConsoleApi as
 * one named function per method of the table, each invoking its own channel, plus `on` for
 * notifications. There is no generic send.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import {
  BRIDGE_GLOBAL,
  consoleMethods,
  consoleNotifications,
  ipcChannel,
  ipcEventChannel,
  type BridgeEnvelope,
  type ConsoleMethods,
  type ConsoleNotifications,
  type TidelineBridge,
} from '../../app/protocol';

type Call = (params?: unknown) => Promise<BridgeEnvelope>;
const bridge: Record<string, Record<string, Call> | TidelineBridge['on']> = {};
const groups: Record<string, Record<string, Call>> = {};

for (const name of Object.keys(consoleMethods) as (keyof ConsoleMethods & string)[]) {
  const dot = name.indexOf('.');
  const group = (groups[name.slice(0, dot)] ??= {});
  const channel = ipcChannel(name);
  group[name.slice(dot + 1)] = (params?: unknown) =>
    ipcRenderer.invoke(channel, params) as Promise<BridgeEnvelope>;
}
Object.assign(bridge, groups);

bridge['on'] = (
  event: keyof ConsoleNotifications & string,
  listener: (params: unknown) => void,
) => {
  if (!Object.hasOwn(consoleNotifications, event))
    throw new Error(`Unknown console event "${event}"`);
  const channel = ipcEventChannel(event);
  const wrapped = (_e: IpcRendererEvent, params: unknown): void => listener(params);
  ipcRenderer.on(channel, wrapped);
  return () => {
    ipcRenderer.removeListener(channel, wrapped);
  };
};

contextBridge.exposeInMainWorld(BRIDGE_GLOBAL, bridge as unknown as TidelineBridge);
