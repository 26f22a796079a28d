import Table from '@mui/material/Table';
import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableHead from '@mui/material/TableHead';
import TableRow from '@mui/material/TableRow';
import type { Plan } from '../../../../app/planner';
import { formatDuration } from '../../../../app/units/duration';
import { formatBytes } from '../../../lib/format';
import { VERDICT_COLOURS } from '../../../lib/plan-view';

/** Per VPG: the journal its history window needs at the planned rates, against its hard limit. */
export function JournalSizing({
  plan,
  historyOf,
}: {
  plan: Plan;
  historyOf: (vpgId: string) => number | undefined;
}) {
  const rows = plan.vpgs.filter((v) => v.journal !== undefined);
  if (rows.length === 0) return null;
  return (
    <Table size="small" aria-label="Journal sizing">
      <TableHead>
        <TableRow>
          <TableCell>VPG</TableCell>
          <TableCell>History</TableCell>
          <TableCell>Needed at the busiest</TableCell>
          <TableCell>Hard limit</TableCell>
          <TableCell>Fits</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {rows.map((v) => {
          const j = v.journal;
          if (j === undefined) return null;
          const history = historyOf(v.vpgId);
          return (
            <TableRow key={v.vpgId}>
              <TableCell>{v.name}</TableCell>
              <TableCell>{history === undefined ? '—' : formatDuration(history)}</TableCell>
              <TableCell>{formatBytes(j.neededBytes)}</TableCell>
              <TableCell>{formatBytes(j.hardLimitBytes)}</TableCell>
              <TableCell
                sx={{
                  color: j.fits ? VERDICT_COLOURS.met : VERDICT_COLOURS.missed,
                  fontWeight: 600,
                }}
              >
                {j.fits ? 'Yes' : 'No: the oldest history would be cut'}
              </TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </Table>
  );
}
