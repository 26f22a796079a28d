import { create } from 'zustand';
import type { ErrorView } from '../../app/protocol/console-api';
import type { HostEntryView, SshCredentials } from '../../app/protocol/console-hosts-api';
import type { Unsubscribe } from '../../app/protocol/method-table';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';

export type HostAction = 'deploy' | 'upgrade' | 'undeploy';

export interface AddHostForm {
  readonly address: string;
  readonly sshPort: string;
  readonly user: string;
  readonly site: string;
  readonly agentPort: string;
  readonly hypervisor: 'auto' | 'sim' | 'libvirt';
}

export interface KeyOffer {
  readonly hostId: string;
  readonly fingerprint: string;
  readonly keyType: string;
  readonly checkCommand: string;
}

export interface CredentialsForm {
  readonly kind: SshCredentials['kind'];
  readonly password: string;
  readonly keyPath: string;
  readonly passphrase: string;
  readonly deleteData: boolean;
}

interface HostsStore {
  readonly hosts: readonly HostEntryView[] | undefined;
  readonly loadError: ErrorView | undefined;

  readonly addOpen: boolean;
  readonly addForm: AddHostForm;
  readonly adding: boolean;
  readonly addError: ErrorView | undefined;

  /** The host whose SSH key the admin is comparing (dialog open while set). */
  readonly keyHostId: string | undefined;
  readonly keyOffer: KeyOffer | undefined;
  readonly keyBusy: boolean;
  readonly keyError: ErrorView | undefined;

  /** The operation the admin is about to run, and its credentials (dialog open while set). */
  readonly credentialsFor: { readonly hostId: string; readonly action: HostAction } | undefined;
  readonly credentials: CredentialsForm;
  readonly running: boolean;
  readonly runError: ErrorView | undefined;

  start(): Unsubscribe;
  refresh(): Promise<void>;
  openAdd(): void;
  closeAdd(): void;
  editAdd(patch: Partial<AddHostForm>): void;
  add(): Promise<void>;
  remove(hostId: string): Promise<void>;
  openKey(hostId: string): Promise<void>;
  closeKey(): void;
  trustKey(): Promise<void>;
  openCredentials(hostId: string, action: HostAction): void;
  closeCredentials(): void;
  editCredentials(patch: Partial<CredentialsForm>): void;
  run(): Promise<void>;
}

const addInitial: AddHostForm = {
  address: '',
  sshPort: '22',
  user: 'root',
  site: '',
  agentPort: '7443',
  hypervisor: 'auto',
};
const credentialsInitial: CredentialsForm = {
  kind: 'password',
  password: '',
  keyPath: '',
  passphrase: '',
  deleteData: false,
};

/** Hosts the console deploys agents to over SSH (Estate page, Hosts section). */
export const useHostsStore = create<HostsStore>()((set, get) => ({
  hosts: undefined,
  loadError: undefined,
  addOpen: false,
  addForm: addInitial,
  adding: false,
  addError: undefined,
  keyHostId: undefined,
  keyOffer: undefined,
  keyBusy: false,
  keyError: undefined,
  credentialsFor: undefined,
  credentials: credentialsInitial,
  running: false,
  runError: undefined,

  start() {
    const connection = consoleConnection();
    const stop = connection.api.on('hosts.changed', ({ hosts }) =>
      set({ hosts, loadError: undefined }),
    );
    const stopStatus = connection.onStatus((status) => {
      if (status.state === 'open') void get().refresh();
    });
    if (connection.status().state === 'open') void get().refresh();
    return () => {
      stop();
      stopStatus();
    };
  },

  async refresh() {
    const outcome = await attempt(() => consoleConnection().api.hosts.list());
    if (outcome.ok) set({ hosts: outcome.value, loadError: undefined });
    else set({ loadError: outcome.error });
  },

  openAdd: () => set({ addOpen: true, addForm: addInitial, addError: undefined }),
  closeAdd: () => {
    if (!get().adding) set({ addOpen: false });
  },
  editAdd: (patch) => set((s) => ({ addForm: { ...s.addForm, ...patch }, addError: undefined })),

  async add() {
    const form = get().addForm;
    if (get().adding) return;
    set({ adding: true, addError: undefined });
    const outcome = await attempt(() =>
      consoleConnection().api.hosts.add({
        address: form.address.trim(),
        sshPort: Number(form.sshPort),
        user: form.user.trim(),
        site: form.site.trim(),
        agentPort: Number(form.agentPort),
        hypervisor: form.hypervisor,
      }),
    );
    if (!outcome.ok) {
      set({ adding: false, addError: outcome.error });
      return;
    }
    set({ adding: false, addOpen: false });
    // The next step: compare the host key.
    await get().openKey(outcome.value.hostId);
  },

  async remove(hostId) {
    const outcome = await attempt(() => consoleConnection().api.hosts.remove({ hostId }));
    if (!outcome.ok) set({ loadError: outcome.error });
  },

  async openKey(hostId) {
    set({ keyHostId: hostId, keyOffer: undefined, keyBusy: true, keyError: undefined });
    const outcome = await attempt(() => consoleConnection().api.hosts.scanKey({ hostId }));
    if (get().keyHostId !== hostId) return;
    if (outcome.ok) set({ keyOffer: outcome.value, keyBusy: false });
    else set({ keyError: outcome.error, keyBusy: false });
  },
  closeKey: () => {
    if (!get().keyBusy) set({ keyHostId: undefined, keyOffer: undefined, keyError: undefined });
  },

  async trustKey() {
    const offer = get().keyOffer;
    if (offer === undefined || get().keyBusy) return;
    set({ keyBusy: true, keyError: undefined });
    const outcome = await attempt(() =>
      consoleConnection().api.hosts.trustKey({
        hostId: offer.hostId,
        fingerprint: offer.fingerprint,
      }),
    );
    if (outcome.ok) set({ keyBusy: false, keyHostId: undefined, keyOffer: undefined });
    else set({ keyBusy: false, keyError: outcome.error });
  },

  openCredentials: (hostId, action) =>
    set((s) => ({
      credentialsFor: { hostId, action },
      // The login method is remembered; a password never is.
      credentials: {
        ...credentialsInitial,
        kind: s.credentials.kind,
        keyPath: s.credentials.keyPath,
      },
      runError: undefined,
    })),
  closeCredentials: () => {
    if (!get().running)
      set({
        credentialsFor: undefined,
        credentials: { ...get().credentials, password: '', passphrase: '' },
      });
  },
  editCredentials: (patch) =>
    set((s) => ({ credentials: { ...s.credentials, ...patch }, runError: undefined })),

  async run() {
    const target = get().credentialsFor;
    if (target === undefined || get().running) return;
    const form = get().credentials;
    const credentials: SshCredentials =
      form.kind === 'password'
        ? { kind: 'password', password: form.password }
        : form.kind === 'key'
          ? {
              kind: 'key',
              keyPath: form.keyPath.trim(),
              ...(form.passphrase !== '' && { passphrase: form.passphrase }),
            }
          : { kind: 'agent' };
    set({ running: true, runError: undefined });
    const api = consoleConnection().api.hosts;
    const { hostId, action } = target;
    const outcome = await attempt(() =>
      action === 'deploy'
        ? api.deploy({ hostId, credentials })
        : action === 'upgrade'
          ? api.upgrade({ hostId, credentials })
          : api.undeploy({ hostId, credentials, deleteData: form.deleteData }),
    );
    if (outcome.ok) {
      set({
        running: false,
        credentialsFor: undefined,
        credentials: { ...form, password: '', passphrase: '', deleteData: false },
      });
    } else set({ running: false, runError: outcome.error });
  },
}));

/** Why the credentials dialog cannot run yet, or undefined. */
export function credentialsBlocker(form: CredentialsForm): string | undefined {
  if (form.kind === 'password' && form.password === '') return 'Type the password';
  if (form.kind === 'key' && form.keyPath.trim() === '') return 'Give the private key file';
  return undefined;
}
