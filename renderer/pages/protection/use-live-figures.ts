import type { VpgView } from '../../../app/protocol/console-api';
import { liveFigures, type LiveFigures } from '../../lib/protection';
import { useNow } from '../../lib/use-now';
import { selectReceivedAt, selectTick, useProtectionStore } from '../../stores/protection-store';

/** A VPG's figures: its latest tick while fresh (re-checked every second), else the listed state. */
export function useLiveFigures(vpg: VpgView): LiveFigures {
  const tick = useProtectionStore(selectTick(vpg.vpgId));
  const receivedAt = useProtectionStore(selectReceivedAt(vpg.vpgId));
  const now = useNow(true);
  return liveFigures(vpg, tick, receivedAt, Math.max(now, receivedAt ?? 0));
}
