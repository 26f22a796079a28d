import Apartment from '@mui/icons-material/Apartment';
import ExpandMore from '@mui/icons-material/ExpandMore';
import LinkOff from '@mui/icons-material/LinkOff';
import EditOutlined from '@mui/icons-material/EditOutlined';
import LocationOn from '@mui/icons-material/LocationOn';
import Person from '@mui/icons-material/Person';
import SyncAlt from '@mui/icons-material/SyncAlt';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { useId, useState, type ReactNode } from 'react';
import type { SiteGroup } from '../../lib/estate-groups';
import { pluralize } from '../../lib/format';
import { AgentItem } from './agent-item';
import { EditSiteDialog } from './edit-site-dialog';
import { HostsTable } from './hosts-table';
import { VmsTable } from './vms-table';

interface Props {
  readonly group: SiteGroup;
  /**
   * Hosts and VMs shown at first. A large estate (50 sites, 1,000 VMs) opens with them folded:
   * drawing every VM table at once would hold the page for most of a second.
   */
  readonly defaultOpen: boolean;
}

/** One site: its details, its agents, hosts and VMs. */
export function SiteSection({ group, defaultOpen }: Props) {
  const headingId = useId();
  const [editing, setEditing] = useState(false);
  const [open, setOpen] = useState(defaultOpen);
  const { site, agents, hosts, vms, pairedWith } = group;
  const name = site?.name ?? 'Agents not connected yet';
  const canEdit = agents.some((a) => a.state === 'connected');

  return (
    <Paper
      component="section"
      aria-labelledby={headingId}
      variant="outlined"
      // Sections scrolled out of view skip style and layout until they come near: with 50
      // sites that is most of a page switch's work.
      sx={{ p: 3, borderRadius: 3, contentVisibility: 'auto', containIntrinsicSize: 'auto 240px' }}
    >
      <Stack direction="row" spacing={2} sx={{ alignItems: 'flex-start', mb: 2.5 }}>
        <Box
          sx={{
            width: 44,
            height: 44,
            borderRadius: 2,
            display: 'grid',
            placeItems: 'center',
            bgcolor: site ? 'secondary.main' : 'grey.500',
            color: 'common.white',
            flexShrink: 0,
          }}
          aria-hidden
        >
          {site ? <Apartment /> : <LinkOff />}
        </Box>
        <Box sx={{ flexGrow: 1, minWidth: 0 }}>
          <Typography variant="h2" id={headingId}>
            {name}
          </Typography>
          {site ? (
            <Stack
              direction="row"
              spacing={3}
              sx={{ mt: 0.5, flexWrap: 'wrap', color: 'text.secondary' }}
            >
              <Detail
                icon={<LocationOn fontSize="small" titleAccess="Location" />}
                label="Location"
                value={site.location}
              />
              <Detail
                icon={<Person fontSize="small" titleAccess="Contact" />}
                label="Contact"
                value={site.contact}
              />
              <Stack direction="row" spacing={0.75} sx={{ alignItems: 'center' }}>
                <SyncAlt fontSize="small" titleAccess="Pairing" />
                <Typography variant="body2">
                  {pairedWith.length > 0 ? (
                    `Paired with ${pairedWith.join(', ')}`
                  ) : (
                    <em>Not paired</em>
                  )}
                </Typography>
              </Stack>
            </Stack>
          ) : (
            <Typography variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
              The site of these agents is known once the console has connected to them.
            </Typography>
          )}
        </Box>
        {site && (
          <Stack direction="row" spacing={2} sx={{ alignItems: 'center', flexShrink: 0 }}>
            <Typography variant="body2" color="text.secondary">
              {pluralize(hosts.length, 'host')} · {pluralize(vms.length, 'VM')}
            </Typography>
            <Button
              size="small"
              variant="outlined"
              startIcon={<EditOutlined />}
              onClick={() => setEditing(true)}
              disabled={!canEdit}
              title={canEdit ? undefined : 'Needs a connected agent at this site'}
            >
              Edit details
            </Button>
          </Stack>
        )}
      </Stack>

      <Subsection title="Agents">
        <Box
          component="ul"
          aria-label={`Agents at ${name}`}
          sx={{ m: 0, p: 0, display: 'grid', gap: 1.5 }}
        >
          {agents.map((agent) => (
            <AgentItem key={agent.key} agent={agent} />
          ))}
        </Box>
      </Subsection>
      {site && !open && (hosts.length > 0 || vms.length > 0) && (
        <Button
          size="small"
          startIcon={<ExpandMore />}
          onClick={() => setOpen(true)}
          aria-expanded={false}
          sx={{ mt: 2 }}
        >
          Show {pluralize(hosts.length, 'host')} and {pluralize(vms.length, 'VM')}
        </Button>
      )}
      {site && open && (
        <Subsection title="Hosts">
          {hosts.length === 0 ? (
            <Empty text="No hosts reported by this site’s agents." />
          ) : (
            <HostsTable hosts={hosts} siteName={name} />
          )}
        </Subsection>
      )}
      {site && open && (
        <Subsection title="Virtual machines">
          {vms.length === 0 ? (
            <Empty text="No virtual machines on this site’s hosts." />
          ) : (
            <VmsTable vms={vms} hosts={hosts} siteName={name} />
          )}
        </Subsection>
      )}
      {editing && site && <EditSiteDialog site={site} onClose={() => setEditing(false)} />}
    </Paper>
  );
}

function Detail({ icon, label, value }: { icon: ReactNode; label: string; value: string }) {
  return (
    <Stack direction="row" spacing={0.75} sx={{ alignItems: 'center' }}>
      {icon}
      <Typography variant="body2">{value || <em>No {label.toLowerCase()} set</em>}</Typography>
    </Stack>
  );
}

function Subsection({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Box sx={{ mt: 2.5 }}>
      <Typography
        variant="overline"
        component="h3"
        color="text.secondary"
        sx={{ display: 'block', mb: 1 }}
      >
        {title}
      </Typography>
      {children}
    </Box>
  );
}

function Empty({ text }: { text: string }) {
  return (
    <Typography variant="body2" color="text.secondary">
      {text}
    </Typography>
  );
}
