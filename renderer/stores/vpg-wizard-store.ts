import { create } from 'zustand';
import type { ErrorView, EstateSnapshot, VpgView } from '../../app/protocol/console-api';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';
import { pairedSites, protectableSites } from '../lib/protection';
import {
  EMPTY_VPG_FORM,
  VPG_STEPS,
  formToSettings,
  withWarningUnit,
  stepErrors,
  type VpgField,
  type VpgForm,
  type VpgFormErrors,
} from '../lib/vpg-form';
import { useEstateStore } from './estate-store';

export const LAST_STEP = VPG_STEPS.length - 1;

type TextField = Exclude<
  VpgField,
  'vmIds' | 'protectedSiteId' | 'recoverySiteId' | 'recoveryHostId'
>;

interface VpgWizardStore {
  readonly open: boolean;
  readonly step: number;
  readonly form: VpgForm;
  /** Shown errors: those of the steps the admin tried to leave, kept current as they type. */
  readonly errors: VpgFormErrors;
  readonly creating: boolean;
  readonly createError: ErrorView | undefined;
  openWizard(): void;
  close(): void;
  setText(field: TextField, value: string): void;
  setWarningUnit(unit: VpgForm['warningUnit']): void;
  chooseProtectedSite(siteId: string): void;
  chooseRecoverySite(siteId: string): void;
  chooseRecoveryHost(hostId: string): void;
  setVms(vmIds: readonly string[]): void;
  next(): void;
  back(): void;
  goTo(step: number): void;
  /** vpgs.create; resolves with the new VPG, or undefined when it failed (createError says). */
  create(): Promise<VpgView | undefined>;
}

const initial = {
  open: false,
  step: 0,
  form: EMPTY_VPG_FORM,
  errors: {},
  creating: false,
  createError: undefined,
};

const snapshot = (): EstateSnapshot | undefined => useEstateStore.getState().snapshot;

/** The recovery side's defaults for a protected site: its first paired site, host, datastore. */
function recoveryDefaults(
  snap: EstateSnapshot | undefined,
  protectedSiteId: string,
  recoverySiteId?: string,
): Pick<VpgForm, 'recoverySiteId' | 'recoveryHostId' | 'recoveryDatastore'> {
  const peers = snap ? pairedSites(snap, protectedSiteId) : [];
  const site = peers.find((p) => p.siteId === recoverySiteId) ?? peers[0];
  const host = snap?.hosts.find((h) => h.siteId === site?.siteId);
  return {
    recoverySiteId: site?.siteId ?? '',
    recoveryHostId: host?.hostId ?? '',
    recoveryDatastore: largestDatastore(snap, site?.siteId, host?.hostId),
  };
}

function largestDatastore(
  snap: EstateSnapshot | undefined,
  siteId: string | undefined,
  hostId: string | undefined,
): string {
  const host = snap?.hosts.find((h) => h.siteId === siteId && h.hostId === hostId);
  const stores = [...(host?.datastores ?? [])].sort((a, b) => b.freeBytes - a.freeBytes);
  return stores[0]?.name ?? '';
}

/** The "New VPG" wizard: its form, step by step, validated with the app's VpgSettingsSchema. */
export const useVpgWizardStore = create<VpgWizardStore>()((set, get) => {
  /** Sets form fields; errors already shown are recomputed so fixed ones disappear. */
  const update = (patch: Partial<VpgForm>): void =>
    set((s) => {
      const form = { ...s.form, ...patch };
      const shown = Object.keys(s.errors) as VpgField[];
      if (shown.length === 0) return { form, createError: undefined };
      const result = formToSettings(form);
      const all = result.ok ? {} : result.errors;
      const errors: VpgFormErrors = {};
      for (let step = 0; step <= s.step; step += 1) Object.assign(errors, stepErrors(all, step));
      return { form, errors, createError: undefined };
    });

  return {
    ...initial,

    openWizard() {
      const snap = snapshot();
      const site = snap ? protectableSites(snap)[0] : undefined;
      const protectedSiteId = site?.siteId ?? '';
      set({
        ...initial,
        open: true,
        form: { ...EMPTY_VPG_FORM, protectedSiteId, ...recoveryDefaults(snap, protectedSiteId) },
      });
    },
    close: () => {
      if (!get().creating) set({ ...initial });
    },
    setText: (field, value) => update({ [field]: value }),
    setWarningUnit: (warningUnit) => {
      const { form } = get();
      if (form.warningUnit !== warningUnit) update(withWarningUnit(form, warningUnit));
    },
    chooseProtectedSite: (protectedSiteId) =>
      update({ protectedSiteId, vmIds: [], ...recoveryDefaults(snapshot(), protectedSiteId) }),
    chooseRecoverySite: (recoverySiteId) =>
      update(recoveryDefaults(snapshot(), get().form.protectedSiteId, recoverySiteId)),
    chooseRecoveryHost: (recoveryHostId) =>
      update({
        recoveryHostId,
        recoveryDatastore: largestDatastore(snapshot(), get().form.recoverySiteId, recoveryHostId),
      }),
    setVms: (vmIds) => update({ vmIds: [...vmIds] }),

    next() {
      const { form, step } = get();
      if (step >= LAST_STEP) return;
      const result = formToSettings(form);
      const errors = result.ok ? {} : stepErrors(result.errors, step);
      if (Object.keys(errors).length > 0) return set({ errors });
      set({ step: step + 1, errors: {} });
    },
    back: () => set((s) => ({ step: Math.max(0, s.step - 1), errors: {}, createError: undefined })),
    goTo: (step) => {
      if (step < get().step) set({ step, errors: {}, createError: undefined });
    },

    async create() {
      const { form, creating } = get();
      if (creating) return undefined;
      const result = formToSettings(form);
      if (!result.ok) {
        // A step's field went bad behind the admin's back (say the site went offline): show it.
        const first = VPG_STEPS.findIndex(
          (_, i) => Object.keys(stepErrors(result.errors, i)).length > 0,
        );
        set({ step: Math.max(0, first), errors: stepErrors(result.errors, Math.max(0, first)) });
        return undefined;
      }
      set({ creating: true, createError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.vpgs.create({
          siteId: form.protectedSiteId,
          settings: result.settings,
        }),
      );
      if (!outcome.ok) {
        set({ creating: false, createError: outcome.error });
        return undefined;
      }
      set({ ...initial });
      return outcome.value;
    },
  };
});
