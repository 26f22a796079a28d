import ListItemText from '@mui/material/ListItemText';
import MenuItem from '@mui/material/MenuItem';
import TextField from '@mui/material/TextField';
import { useId } from 'react';
import type { EstateSnapshot } from '../../../../app/protocol/console-api';
import { hasConnectedAgent } from '../../../lib/pairings';

interface Props {
  readonly label: string;
  readonly helper: string;
  readonly snapshot: EstateSnapshot;
  readonly value: string;
  /** The site chosen in the other select: not offered here. */
  readonly exclude: string;
  readonly disabled: boolean;
  readonly onChange: (siteId: string) => void;
}

/** One of the two site choices; a site with no connected agent is shown but cannot be chosen. */
export function SiteSelect({ label, helper, snapshot, value, exclude, disabled, onChange }: Props) {
  const id = useId();
  return (
    <TextField
      id={id}
      select
      fullWidth
      label={label}
      helperText={helper}
      value={value}
      disabled={disabled}
      onChange={(e) => onChange(e.target.value)}
      slotProps={{
        select: {
          renderValue: (selected) =>
            snapshot.sites.find((s) => s.siteId === selected)?.name ?? String(selected),
        },
      }}
    >
      {snapshot.sites
        .filter((site) => site.siteId !== exclude)
        .map((site) => {
          const online = hasConnectedAgent(snapshot, site);
          return (
            <MenuItem key={site.siteId} value={site.siteId} disabled={!online}>
              <ListItemText
                primary={site.name}
                secondary={online ? site.location || undefined : 'No agent connected'}
              />
            </MenuItem>
          );
        })}
    </TextField>
  );
}
