import Alert from '@mui/material/Alert';
import type { VpgView } from '../../../../app/protocol/console-api';
import { useVpgEditStore } from '../../../stores/vpg-edit-store';

interface Props {
  readonly vpg: VpgView;
  readonly recoverySite: string;
}

/** What the last edit saved, and whether the recovery site has yet to take the settings. */
export function EditOutcome({ vpg, recoverySite }: Props) {
  const saved = useVpgEditStore((s) => s.saved);
  const dismiss = useVpgEditStore((s) => s.dismissSaved);
  return (
    <>
      {vpg.recoverySitePending === true && (
        <Alert severity="warning">
          Settings changed while {recoverySite} was unreachable: they apply here now, and{' '}
          {recoverySite} takes them when it is back.
        </Alert>
      )}
      {saved?.vpgId === vpg.vpgId && saved.applied.length > 0 && (
        <Alert severity="success" onClose={dismiss}>
          Saved: {saved.applied.join('; ')}.
        </Alert>
      )}
    </>
  );
}
