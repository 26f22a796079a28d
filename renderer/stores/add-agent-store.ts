import { create } from 'zustand';
import { AddressSchema } from '../../app/protocol/common';
import {
  AgentTokenSchema,
  type AgentView,
  type CertificateInfo,
  type ErrorView,
  type EstateSnapshot,
} from '../../app/protocol/console-api';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';

export type AddAgentStep = 'address' | 'certificate';
type Field = 'address' | 'token';

interface AddAgentStore {
  readonly open: boolean;
  readonly step: AddAgentStep;
  readonly address: string;
  readonly token: string;
  readonly touched: Readonly<Record<Field, boolean>>;
  readonly submitted: boolean;
  readonly busy: boolean;
  readonly certificate: CertificateInfo | undefined;
  readonly error: ErrorView | undefined;
  openDialog(): void;
  close(): void;
  setField(field: Field, value: string): void;
  blur(field: Field): void;
  /** Step (a) → (b): validate, then fetch the certificate the agent presents. */
  next(): Promise<void>;
  back(): void;
  /** Step (b): pin the shown fingerprint and connect with the token. */
  trust(): Promise<void>;
}

const initial = {
  open: false,
  step: 'address' as AddAgentStep,
  address: '',
  token: '',
  touched: { address: false, token: false },
  submitted: false,
  busy: false,
  certificate: undefined,
  error: undefined,
};

/** A terminal state means the agent refused us: the admin has to change something first. */
const REFUSED = new Set(['unauthorized', 'fingerprint-mismatch', 'incompatible']);

export const useAddAgentStore = create<AddAgentStore>()((set, get) => ({
  ...initial,

  openDialog: () => set({ ...initial, open: true }),
  close: () => {
    if (!get().busy) set({ ...initial });
  },
  setField: (field, value) => set({ [field]: value, error: undefined }),
  blur: (field) => set((s) => ({ touched: { ...s.touched, [field]: true } })),

  async next() {
    set({ submitted: true, error: undefined });
    const s = get();
    if (addressError(s.address) !== undefined || tokenError(s.token) !== undefined) return;
    set({ busy: true });
    const outcome = await attempt(() =>
      consoleConnection().api.agents.probe({ address: s.address.trim() }),
    );
    if (outcome.ok) set({ busy: false, step: 'certificate', certificate: outcome.value });
    else set({ busy: false, error: outcome.error });
  },

  back: () => set({ step: 'address', certificate: undefined, error: undefined }),

  async trust() {
    const { address, token, certificate } = get();
    if (certificate === undefined) return;
    set({ busy: true, error: undefined });
    const api = consoleConnection().api;
    const outcome = await attempt(() =>
      api.agents.add({
        address: address.trim(),
        token: token.trim(),
        fingerprint: certificate.fingerprint,
      }),
    );
    if (!outcome.ok) {
      set({ busy: false, error: outcome.error });
      return;
    }
    const agent =
      outcome.value.state === 'connecting' ? await settled(outcome.value) : outcome.value;
    if (REFUSED.has(agent.state)) {
      // Keep nothing the admin did not get to use: forget the entry so they can fix and retry here.
      await attempt(() => api.agents.remove({ key: agent.key }));
      const error = agent.lastError ?? {
        code: 'UNAUTHORIZED',
        message: 'The agent refused the connection.',
      };
      set({ busy: false, error });
      return;
    }
    set({ ...initial });
  },
}));

const SETTLE_TIMEOUT_MS = 15_000;

/**
 * The first connection attempt decides whether the token was right: wait (bounded) for the
 * agent to leave 'connecting', so a refusal shows here, beside the token, not later in a list.
 */
function settled(agent: AgentView): Promise<AgentView> {
  const api = consoleConnection().api;
  return new Promise((resolve) => {
    let done = false;
    const finish = (view: AgentView): void => {
      if (done) return;
      done = true;
      window.clearTimeout(timer);
      stop();
      resolve(view);
    };
    const check = (snapshot: EstateSnapshot): void => {
      const view = snapshot.agents.find((a) => a.key === agent.key);
      if (view !== undefined && view.state !== 'connecting') finish(view);
    };
    const timer = window.setTimeout(() => finish(agent), SETTLE_TIMEOUT_MS);
    const stop = api.on('estate.changed', check);
    void attempt(() => api.estate.get()).then((o) => (o.ok ? check(o.value) : undefined));
  });
}

/** The schema's message for a field, or undefined when it is valid. */
export function addressError(value: string): string | undefined {
  if (value.trim() === '') return 'Enter the agent’s address as host:port, e.g. 10.0.0.5:7443';
  const parsed = AddressSchema.safeParse(value);
  return parsed.success
    ? undefined
    : `Address ${parsed.error.issues[0]?.message ?? 'is not valid'}`;
}

export function tokenError(value: string): string | undefined {
  if (value.trim() === '')
    return 'Paste the admin token printed by "tideline-agent init" on that host';
  const parsed = AgentTokenSchema.safeParse(value);
  return parsed.success ? undefined : `Token ${parsed.error.issues[0]?.message ?? 'is not valid'}`;
}

const shown = (s: AddAgentStore, field: Field): boolean => s.submitted || s.touched[field];
export const selectAddressError = (s: AddAgentStore): string | undefined =>
  shown(s, 'address') ? addressError(s.address) : undefined;
export const selectTokenError = (s: AddAgentStore): string | undefined =>
  shown(s, 'token') ? tokenError(s.token) : undefined;
