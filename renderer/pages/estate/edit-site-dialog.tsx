import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Stack from '@mui/material/Stack';
import TextField from '@mui/material/TextField';
import { useState, type FormEvent } from 'react';
import type { ErrorView, SiteView } from '../../../app/protocol/console-api';
import { SiteDetailsPatchSchema, type SiteDetailsPatch } from '../../../app/protocol/inventory';
import { ErrorAlert } from '../../components/error-alert';
import { useEstateStore } from '../../stores/estate-store';

interface Props {
  readonly site: SiteView;
  readonly onClose: () => void;
}

type Field = 'name' | 'location' | 'contact';
const FIELDS: readonly { key: Field; label: string; helper: string }[] = [
  { key: 'name', label: 'Site name', helper: 'Shown everywhere the site appears' },
  { key: 'location', label: 'Location', helper: 'Building, city or data-centre room' },
  { key: 'contact', label: 'Contact', helper: 'Who to call during an incident' },
];

/** Name, location and contact of a site, saved on the site's agent. */
export function EditSiteDialog({ site, onClose }: Props) {
  const setSiteDetails = useEstateStore((s) => s.setSiteDetails);
  const [values, setValues] = useState<Record<Field, string>>({
    name: site.name,
    location: site.location,
    contact: site.contact,
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ErrorView | undefined>();

  const patch: SiteDetailsPatch = {};
  for (const { key } of FIELDS) if (values[key].trim() !== site[key]) patch[key] = values[key];
  const parsed = SiteDetailsPatchSchema.safeParse(patch);
  const fieldError = (key: Field): string | undefined =>
    parsed.success ? undefined : parsed.error.issues.find((i) => i.path[0] === key)?.message;
  const changed = Object.keys(patch).length > 0;

  const save = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!parsed.success || !changed) return;
    setBusy(true);
    const outcome = await setSiteDetails(site.siteId, parsed.data);
    setBusy(false);
    if (outcome.ok) onClose();
    else setError(outcome.error);
  };

  return (
    <Dialog
      open
      onClose={busy ? undefined : onClose}
      maxWidth="sm"
      fullWidth
      aria-labelledby="edit-site-title"
    >
      <form onSubmit={(e) => void save(e)} noValidate>
        <DialogTitle id="edit-site-title">Site details</DialogTitle>
        <DialogContent>
          <Stack spacing={2.5} sx={{ pt: 1 }}>
            {FIELDS.map(({ key, label, helper }) => {
              const message = fieldError(key);
              return (
                <TextField
                  key={key}
                  label={label}
                  value={values[key]}
                  onChange={(e) => setValues({ ...values, [key]: e.target.value })}
                  error={message !== undefined}
                  helperText={message ? `${label} ${message}` : helper}
                  disabled={busy}
                  fullWidth
                />
              );
            })}
            {error && <ErrorAlert error={error} title="Could not save the site details" />}
          </Stack>
        </DialogContent>
        <DialogActions sx={{ px: 3, pb: 2 }}>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" disabled={busy || !changed || !parsed.success}>
            Save
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
