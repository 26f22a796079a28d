import { create } from 'zustand';
import type { ErrorView, ProtectionTask } from '../../app/protocol/console-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { taskEndedNotification, watchLongTaskEnds } from '../../app/task/task-text';
import { consoleConnection } from '../api';
import { showBrowserNotification } from '../lib/desktop-notify';
import { attempt } from '../lib/errors';
import { connectedAgentKeys } from '../lib/recovery';
import { ALL_TASKS, mergeTasks, taskKey, type TaskFilter, type TaskMap } from '../lib/task-list';
import { mergeSyncTask } from '../lib/tasks';
import { useEstateStore } from './estate-store';

/** How many tasks the drawer asks the agents for when the link opens (newest first). */
const HISTORY_LIMIT = 200;

export const DRAWER_MIN_HEIGHT = 180;
export const DRAWER_DEFAULT_HEIGHT = 320;

interface TasksStore {
  /** Every task seen, by taskKey: the drawer, the VPG pages and the failover view read these. */
  readonly tasks: TaskMap;
  /** The running initial sync or resync of each VPG, by vpgId (the Protection rows' bars). */
  readonly syncTasks: TaskMap;
  readonly loaded: boolean;
  readonly loadError: ErrorView | undefined;
  /** The drawer: open or a bar, its height, its filter, and the task whose details show. */
  readonly open: boolean;
  readonly height: number;
  readonly filter: TaskFilter;
  readonly selectedKey: string | undefined;
  readonly aborting: boolean;
  readonly abortError: ErrorView | undefined;

  /**
   * Follows protection.task (store updates batched to one per animation frame; a long task's
   * end notified at once) and loads the agents' task history when the link opens or the set
   * of connected agents changes.
   */
  start(): Unsubscribe;
  load(): Promise<void>;
  /** A VPG's own history (older than what the drawer loaded), for its page. */
  loadVpg(vpgId: string): Promise<void>;
  setOpen(open: boolean): void;
  setHeight(height: number): void;
  setFilter(patch: Partial<TaskFilter>): void;
  select(key: string | undefined): void;
  /** tasks.abort; a refusal (CONFLICT: not abortable, or ended) is kept in abortError. */
  abort(task: ProtectionTask): Promise<void>;
  dismissAbortError(): void;
}

/** The tasks of every connected agent, one store shared by the drawer and the pages. */
export const useTasksStore = create<TasksStore>()((set, get) => {
  const pending = new Map<string, ProtectionTask>();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending.clear();
    apply(batch);
  };
  const apply = (batch: readonly ProtectionTask[]): void =>
    set((s) => {
      const tasks = mergeTasks(s.tasks, batch);
      let syncTasks = s.syncTasks;
      for (const task of batch) syncTasks = mergeSyncTask(syncTasks, task);
      return tasks === s.tasks && syncTasks === s.syncTasks ? {} : { tasks, syncTasks };
    });
  // One render per frame however many agents report (500 VPGs syncing report ~500 a second);
  // the latest report of a task wins, so a hidden window (no frames) keeps one per task.
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') {
      requestAnimationFrame(flush);
    } else setTimeout(flush, 250);
  };

  const endsLongTask = watchLongTaskEnds();
  const receive = (task: ProtectionTask): void => {
    const key = taskKey(task);
    pending.set(key, task);
    schedule();
    // Decided on arrival, not on flush: a window in the background gets no frames.
    if (endsLongTask(key, task) && !document.hasFocus()) notify(task, key);
  };
  const notify = (task: ProtectionTask, key: string): void => {
    const { snapshot } = useEstateStore.getState();
    const vpg = snapshot?.vpgs.find((v) => v.vpgId === task.vpgId);
    showBrowserNotification(taskEndedNotification(task, vpg?.name), key, () =>
      set({ open: true, selectedKey: key }),
    );
  };

  return {
    tasks: {},
    syncTasks: {},
    loaded: false,
    loadError: undefined,
    open: false,
    height: DRAWER_DEFAULT_HEIGHT,
    filter: ALL_TASKS,
    selectedKey: undefined,
    aborting: false,
    abortError: undefined,

    start() {
      const connection = consoleConnection();
      const stopTasks = connection.api.on('protection.task', receive);
      const stopStatus = connection.onStatus((status) => {
        if (status.state === 'open') void get().load();
      });
      // An agent that connects brings tasks the console had not seen (it ran them while no
      // console listened; at start-up the link may open before any agent is connected); one
      // that goes away leaves its tasks as they last were.
      let connected = '';
      const stopEstate = connection.api.on('estate.changed', (snapshot) => {
        const now = connectedAgentKeys(snapshot);
        if (now === connected) return;
        connected = now;
        if (now !== '') void get().load();
      });
      if (connection.status().state === 'open') void get().load();
      return () => {
        stopTasks();
        stopStatus();
        stopEstate();
      };
    },

    async load() {
      const outcome = await attempt(() =>
        consoleConnection().api.tasks.history({ limit: HISTORY_LIMIT }),
      );
      if (!outcome.ok) return set({ loadError: outcome.error });
      for (const task of outcome.value.tasks) endsLongTask(taskKey(task), task);
      apply(outcome.value.tasks);
      set({ loaded: true, loadError: undefined });
    },

    async loadVpg(vpgId) {
      const outcome = await attempt(() => consoleConnection().api.tasks.history({ vpgId }));
      if (outcome.ok) apply(outcome.value.tasks);
    },

    setOpen: (open) => set({ open }),
    setHeight: (height) => set({ height: Math.max(DRAWER_MIN_HEIGHT, Math.round(height)) }),
    setFilter: (patch) => set((s) => ({ filter: { ...s.filter, ...patch } })),
    select: (selectedKey) => set({ selectedKey, abortError: undefined }),

    async abort(task) {
      if (get().aborting) return;
      set({ aborting: true, abortError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.tasks.abort({ agentKey: task.agentKey, taskId: task.taskId }),
      );
      if (outcome.ok) apply([outcome.value]);
      set({ aborting: false, abortError: outcome.ok ? undefined : outcome.error });
    },
    dismissAbortError: () => set({ abortError: undefined }),
  };
});

/** The task with this id, whichever agent runs it (ids are UUIDs), or undefined. */
export function findTask(tasks: TaskMap, taskId: string): ProtectionTask | undefined {
  return Object.values(tasks).find((t) => t.taskId === taskId);
}
