import { create } from 'zustand';
import type { ErrorView, VpgView } from '../../app/protocol/console-api';
import { VpgEditSchema, emptyPlan, planVpgEdit, type VpgEdit } from '../../app/vpg/vpg-edit';
import { consoleConnection } from '../api';
import { attempt } from '../lib/errors';
import {
  EMPTY_NIC,
  EMPTY_VM_RECOVERY,
  describeEdit,
  editFormOf,
  formToEdit,
  type EditChange,
  type FailoverKind,
  type NicForm,
  type VmRecoveryForm,
  type VpgEditErrors,
  type VpgEditForm,
} from '../lib/vpg-edit-form';
import { withWarningUnit, type VpgForm } from '../lib/vpg-form';
import { useEstateStore } from './estate-store';

export type EditTab = 'general' | 'vms' | 'recovery';
type BaseText =
  | 'name'
  | 'historyHours'
  | 'hardLimitGiB'
  | 'warning'
  | 'checkpointIntervalSeconds'
  | 'rpoTargetSeconds';

interface VpgEditStore {
  /** The VPG as it was when the dialog opened (its version is the one edited). */
  readonly vpg: VpgView | undefined;
  readonly form: VpgEditForm | undefined;
  readonly tab: EditTab;
  readonly errors: VpgEditErrors;
  /** Set while the diff is shown, before saving. */
  readonly review: { edit: VpgEdit; changes: EditChange[] } | undefined;
  readonly saving: boolean;
  readonly saveError: ErrorView | undefined;
  /** What the last save changed, for the page to say so. */
  readonly saved: { vpgId: string; applied: string[] } | undefined;
  openEdit(vpg: VpgView): void;
  close(): void;
  setTab(tab: EditTab): void;
  setText(field: BaseText, value: string): void;
  setWarningUnit(unit: VpgForm['warningUnit']): void;
  setVms(vmIds: readonly string[]): void;
  setBoot(
    vmId: string,
    patch: Partial<Pick<VmRecoveryForm, 'bootGroup' | 'bootDelaySeconds'>>,
  ): void;
  setNic(vmId: string, nicName: string, kind: FailoverKind, patch: Partial<NicForm>): void;
  /** Checks the form and shows the diff; the errors (and their tab) otherwise. */
  showReview(): void;
  backToEdit(): void;
  /** vpgs.edit with the reviewed edit; applyLater when the recovery site is unreachable. */
  save(applyLater: boolean): Promise<boolean>;
  dismissSaved(): void;
}

const initial = {
  vpg: undefined,
  form: undefined,
  tab: 'general' as EditTab,
  errors: {},
  review: undefined,
  saving: false,
  saveError: undefined,
};

const siteVms = (siteId: string) =>
  (useEstateStore.getState().snapshot?.vms ?? []).filter((v) => v.siteId === siteId);

/** The tab holding the first error, so the admin sees it. */
function tabOf(errors: VpgEditErrors): EditTab {
  if (errors.vmIds !== undefined) return 'vms';
  const { recovery, ...rest } = errors;
  if (Object.keys(rest).length > 0) return 'general';
  return recovery !== undefined && Object.keys(recovery).length > 0 ? 'recovery' : 'general';
}

/** The VPG edit dialog: the form, the diff before saving, and the save. */
export const useVpgEditStore = create<VpgEditStore>()((set, get) => {
  const update = (change: (form: VpgEditForm) => VpgEditForm): void => {
    const { form, vpg, errors } = get();
    if (form === undefined || vpg === undefined) return;
    const next = change(form);
    // Errors already shown follow the typing, so fixed ones go.
    const shown = Object.keys(errors).length > 0;
    const result = shown ? formToEdit(next, siteVms(vpg.protectedSiteId)) : undefined;
    set({
      form: next,
      saveError: undefined,
      ...(result !== undefined && { errors: result.ok ? {} : result.errors }),
    });
  };
  const vmForm = (form: VpgEditForm, vmId: string): VmRecoveryForm =>
    form.recovery[vmId] ?? EMPTY_VM_RECOVERY;

  return {
    ...initial,
    saved: undefined,
    openEdit: (vpg) => set({ ...initial, vpg, form: editFormOf(vpg), saved: undefined }),
    close: () => {
      if (!get().saving) set({ ...initial });
    },
    setTab: (tab) => set({ tab }),
    setText: (field, value) => update((f) => ({ ...f, base: { ...f.base, [field]: value } })),
    setWarningUnit: (warningUnit) =>
      update((f) => ({ ...f, base: withWarningUnit(f.base, warningUnit) })),
    setVms: (vmIds) => update((f) => ({ ...f, base: { ...f.base, vmIds: [...vmIds] } })),
    setBoot: (vmId, patch) =>
      update((f) => ({
        ...f,
        recovery: { ...f.recovery, [vmId]: { ...vmForm(f, vmId), ...patch } },
      })),
    setNic: (vmId, nicName, kind, patch) =>
      update((f) => {
        const vm = vmForm(f, vmId);
        const both = vm.nics[nicName] ?? { live: EMPTY_NIC, test: EMPTY_NIC };
        const nics = { ...vm.nics, [nicName]: { ...both, [kind]: { ...both[kind], ...patch } } };
        return { ...f, recovery: { ...f.recovery, [vmId]: { ...vm, nics } } };
      }),

    showReview() {
      const { form, vpg } = get();
      if (form === undefined || vpg === undefined) return;
      const vms = siteVms(vpg.protectedSiteId);
      const result = formToEdit(form, vms);
      if (!result.ok) {
        set({ errors: result.errors, tab: tabOf(result.errors) });
        return;
      }
      const plan = planVpgEdit(vpg, VpgEditSchema.parse(result.edit));
      const name = (vmId: string) => vms.find((v) => v.vmId === vmId)?.name ?? vmId;
      set({
        errors: {},
        review: {
          edit: result.edit,
          changes: emptyPlan(plan) ? [] : describeEdit(vpg, plan, name),
        },
      });
    },
    backToEdit: () => set({ review: undefined, saveError: undefined }),

    async save(applyLater) {
      const { vpg, review, saving } = get();
      if (vpg === undefined || review === undefined || saving) return false;
      set({ saving: true, saveError: undefined });
      const outcome = await attempt(() =>
        consoleConnection().api.vpgs.edit({
          siteId: vpg.protectedSiteId,
          vpgId: vpg.vpgId,
          version: vpg.version,
          edit: review.edit,
          applyLater,
        }),
      );
      if (!outcome.ok) {
        set({ saving: false, saveError: outcome.error });
        return false;
      }
      set({
        ...initial,
        saved: { vpgId: vpg.vpgId, applied: outcome.value.applied },
      });
      return true;
    },
    dismissSaved: () => set({ saved: undefined }),
  };
});
