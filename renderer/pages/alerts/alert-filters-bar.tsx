import Search from '@mui/icons-material/Search';
import Button from '@mui/material/Button';
import InputAdornment from '@mui/material/InputAdornment';
import MenuItem from '@mui/material/MenuItem';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import ToggleButton from '@mui/material/ToggleButton';
import ToggleButtonGroup from '@mui/material/ToggleButtonGroup';
import type { SiteView } from '../../../app/protocol/console-api';
import { useAlertsStore } from '../../stores/alerts-store';
import { isFiltered, type AlertFilters } from './alert-list';

interface Props {
  readonly vpgs: readonly { vpgId: string; name: string }[];
  readonly sites: readonly Pick<SiteView, 'siteId' | 'name'>[];
}

/** State, acknowledged or not, VPG, site, and words to find. */
export function AlertFiltersBar({ vpgs, sites }: Props) {
  const filters = useAlertsStore((s) => s.filters);
  const setFilters = useAlertsStore((s) => s.setFilters);
  const clear = useAlertsStore((s) => s.clearFilters);
  return (
    <Stack
      direction="row"
      role="search"
      aria-label="Filter alerts"
      sx={{ flexWrap: 'wrap', gap: 2, alignItems: 'center' }}
    >
      <ToggleButtonGroup
        exclusive
        size="small"
        color="primary"
        aria-label="State"
        value={filters.state}
        onChange={(_e, value: AlertFilters['state'] | null) => {
          if (value !== null) setFilters({ state: value });
        }}
      >
        <ToggleButton value="all">All</ToggleButton>
        <ToggleButton value="raised">Raised</ToggleButton>
        <ToggleButton value="cleared">Cleared</ToggleButton>
      </ToggleButtonGroup>
      <TextField
        select
        size="small"
        label="Acknowledged"
        value={filters.acknowledged}
        onChange={(e) =>
          setFilters({ acknowledged: e.target.value as AlertFilters['acknowledged'] })
        }
        sx={{ minWidth: 170 }}
      >
        <MenuItem value="all">Any</MenuItem>
        <MenuItem value="no">Not acknowledged</MenuItem>
        <MenuItem value="yes">Acknowledged</MenuItem>
      </TextField>
      <TextField
        select
        size="small"
        label="VPG"
        slotProps={{ inputLabel: { shrink: true }, select: { displayEmpty: true } }}
        value={filters.vpgId}
        onChange={(e) => setFilters({ vpgId: e.target.value })}
        sx={{ minWidth: 170 }}
      >
        <MenuItem value="">All VPGs</MenuItem>
        {vpgs.map((v) => (
          <MenuItem key={v.vpgId} value={v.vpgId}>
            {v.name}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        select
        size="small"
        label="Site"
        slotProps={{ inputLabel: { shrink: true }, select: { displayEmpty: true } }}
        value={filters.siteId}
        onChange={(e) => setFilters({ siteId: e.target.value })}
        sx={{ minWidth: 170 }}
      >
        <MenuItem value="">All sites</MenuItem>
        {sites.map((s) => (
          <MenuItem key={s.siteId} value={s.siteId}>
            {s.name}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        size="small"
        type="search"
        label="Find"
        placeholder="VPG, timeframe, message…"
        value={filters.text}
        onChange={(e) => setFilters({ text: e.target.value })}
        sx={{ minWidth: 240, flexGrow: 1, maxWidth: 360 }}
        slotProps={{
          input: {
            startAdornment: (
              <InputAdornment position="start">
                <Search fontSize="small" />
              </InputAdornment>
            ),
          },
        }}
      />
      {isFiltered(filters) && (
        <Button size="small" onClick={clear}>
          Clear filters
        </Button>
      )}
    </Stack>
  );
}
