import DeleteOutlined from '@mui/icons-material/DeleteOutlined';
import Dns from '@mui/icons-material/Dns';
import Refresh from '@mui/icons-material/Refresh';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Stack from '@mui/material/Stack';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import type { AgentView } from '../../../app/protocol/console-api';
import { ErrorAlert } from '../../components/error-alert';
import {
  selectAgentAction,
  selectAgentActionError,
  useEstateStore,
} from '../../stores/estate-store';
import { monoFontFamily } from '../../theme';
import { AgentStateChip } from './agent-state-chip';
import { RemoveAgentDialog } from './remove-agent-dialog';

interface Props {
  readonly agent: AgentView;
}

/** One agent: who it is, how the console's connection to it stands, and what to do about it. */
export function AgentItem({ agent }: Props) {
  const action = useEstateStore(selectAgentAction(agent.key));
  const actionError = useEstateStore(selectAgentActionError(agent.key));
  const reconnectAgent = useEstateStore((s) => s.reconnectAgent);
  const dismissAgentError = useEstateStore((s) => s.dismissAgentError);
  const [confirmRemove, setConfirmRemove] = useState(false);
  const showLastError = agent.state !== 'connected' && agent.lastError !== undefined;

  return (
    <Box
      component="li"
      aria-label={`Agent ${agent.address}`}
      sx={{
        listStyle: 'none',
        p: 2,
        border: 1,
        borderColor: 'divider',
        borderRadius: 2,
        bgcolor: 'background.paper',
      }}
    >
      <Stack direction="row" spacing={2} sx={{ alignItems: 'flex-start' }}>
        <Dns sx={{ color: 'primary.light', mt: 0.25 }} aria-hidden />
        <Box sx={{ flexGrow: 1, minWidth: 0 }}>
          <Stack
            direction="row"
            spacing={1.5}
            sx={{ alignItems: 'center', flexWrap: 'wrap', rowGap: 1 }}
          >
            <Typography
              variant="subtitle1"
              component="h4"
              sx={{ fontWeight: 600, fontFamily: monoFontFamily, fontSize: '0.95rem' }}
            >
              {agent.address}
            </Typography>
            <AgentStateChip state={agent.state} nextRetryAt={agent.nextRetryAt} />
          </Stack>
          <Typography variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
            {agent.identity
              ? [
                  `on host ${agent.identity.hostName}`,
                  `agent ${agent.identity.version}`,
                  agent.state === 'connected' && agent.connectedSince !== undefined
                    ? `connected since ${new Date(agent.connectedSince).toLocaleTimeString()}`
                    : undefined,
                ]
                  .filter((part) => part !== undefined)
                  .join(' · ')
              : 'Host and site are known after the first successful connection.'}
          </Typography>
          <Tooltip title={agent.fingerprint}>
            <Typography
              variant="caption"
              color="text.secondary"
              sx={{ fontFamily: monoFontFamily, display: 'inline-block', mt: 0.5 }}
            >
              SHA-256 {shortFingerprint(agent.fingerprint)}
            </Typography>
          </Tooltip>
          {showLastError && agent.lastError && (
            <Alert
              severity={
                agent.state === 'retrying' || agent.state === 'connecting' ? 'warning' : 'error'
              }
              sx={{ mt: 1.5 }}
            >
              {agent.lastError.message}
            </Alert>
          )}
          {actionError && (
            <ErrorAlert
              error={actionError}
              title="Could not reconnect"
              onClose={() => dismissAgentError(agent.key)}
              sx={{ mt: 1.5 }}
            />
          )}
        </Box>
        <Stack direction="row" spacing={1} sx={{ flexShrink: 0 }}>
          {agent.state !== 'connected' && (
            <Button
              size="small"
              variant="outlined"
              startIcon={<Refresh />}
              disabled={action !== undefined}
              onClick={() => void reconnectAgent(agent.key)}
            >
              Retry now
            </Button>
          )}
          <Button
            size="small"
            color="error"
            startIcon={<DeleteOutlined />}
            disabled={action !== undefined}
            onClick={() => setConfirmRemove(true)}
          >
            Remove
          </Button>
        </Stack>
      </Stack>
      {confirmRemove && <RemoveAgentDialog agent={agent} onClose={() => setConfirmRemove(false)} />}
    </Box>
  );
}

function shortFingerprint(fingerprint: string): string {
  const pairs = fingerprint.split(':');
  return `${pairs.slice(0, 4).join(':')}…${pairs.slice(-2).join(':')}`;
}
