import Box from '@mui/material/Box';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import type { CheckpointInfo } from '../../../../app/vpg/vpg-schemas';
import { formatSourceTime } from '../../../lib/protection';
import { testedText, thinMarks, timelineMarks } from '../../../lib/recovery';

interface Props {
  readonly checkpoints: readonly CheckpointInfo[];
  /** The checkpoint the current choice resolves to. */
  readonly selectedSeq: number | undefined;
  onPick(seq: number): void;
}

/**
 * The journal as a line from its oldest to its newest offered checkpoint: automatic ones as
 * ticks, named ones as flags with their name, tested ones with a check; a click picks one.
 */
export function CheckpointTimeline({ checkpoints, selectedSeq, onPick }: Props) {
  const all = timelineMarks(checkpoints);
  if (all.length === 0) return null;
  const first = all[0]!.checkpoint.sourceTime;
  const last = all[all.length - 1]!.checkpoint.sourceTime;
  const marks = thinMarks(all, 0.01, selectedSeq);
  return (
    <Box aria-label="Journal timeline" role="group" sx={{ px: 2, pt: 4, pb: 1 }}>
      <Box sx={{ position: 'relative', height: 44 }}>
        <Box
          aria-hidden
          sx={{
            position: 'absolute',
            left: 0,
            right: 0,
            top: 20,
            height: 4,
            borderRadius: 2,
            background: 'linear-gradient(90deg, #d8f1f1 0%, #14a3a5 100%)',
          }}
        />
        {marks.map((m) => {
          const selected = m.checkpoint.seq === selectedSeq;
          const label = m.checkpoint.name ?? formatSourceTime(m.checkpoint.sourceTime);
          const tip = [
            m.checkpoint.name,
            formatSourceTime(m.checkpoint.sourceTime),
            testedText(m.checkpoint),
          ]
            .filter(Boolean)
            .join(' · ');
          return (
            <Tooltip key={m.checkpoint.seq} title={tip} arrow>
              <Box
                component="button"
                type="button"
                aria-label={`Timeline mark ${label}`}
                aria-pressed={selected}
                onClick={() => onPick(m.checkpoint.seq)}
                sx={{
                  position: 'absolute',
                  left: `${m.position * 100}%`,
                  top: m.named ? 8 : 14,
                  transform: 'translateX(-50%)',
                  width: m.named ? 16 : 6,
                  height: m.named ? 28 : 16,
                  p: 0,
                  border: 0,
                  cursor: 'pointer',
                  borderRadius: m.named ? '4px 4px 8px 8px' : 1,
                  bgcolor: selected
                    ? 'error.main'
                    : m.tested
                      ? 'success.main'
                      : m.named
                        ? 'primary.main'
                        : 'rgba(23,58,99,0.35)',
                  boxShadow: selected ? '0 0 0 3px rgba(198,47,47,0.25)' : 'none',
                  color: '#fff',
                  fontSize: 10,
                  lineHeight: '28px',
                  zIndex: selected ? 2 : m.named ? 1 : 0,
                }}
              >
                {m.tested ? '✓' : ''}
              </Box>
            </Tooltip>
          );
        })}
        {marks
          .filter((m) => m.named)
          .map((m) => (
            <Typography
              key={`label-${m.checkpoint.seq}`}
              variant="caption"
              aria-hidden
              sx={{
                position: 'absolute',
                left: `${m.position * 100}%`,
                top: -20,
                transform: `translateX(${m.position > 0.85 ? '-100%' : m.position < 0.15 ? '0' : '-50%'})`,
                whiteSpace: 'nowrap',
                fontWeight: 600,
                color: m.tested ? 'success.main' : 'primary.main',
              }}
            >
              {m.checkpoint.name}
            </Typography>
          ))}
      </Box>
      <Box sx={{ display: 'flex', justifyContent: 'space-between', mt: 0.5 }}>
        <Typography variant="caption" color="text.secondary">
          Oldest · {formatSourceTime(first)}
        </Typography>
        <Typography variant="caption" color="text.secondary">
          {all.length} checkpoints
        </Typography>
        <Typography variant="caption" color="text.secondary">
          Latest · {formatSourceTime(last)}
        </Typography>
      </Box>
      <Box sx={{ display: 'flex', gap: 2, mt: 1 }} aria-hidden>
        <Legend color="rgba(23,58,99,0.35)" text="Automatic" />
        <Legend color="#173a63" text="Named" />
        <Legend color="#1e8e4e" text="Tested" />
        <Legend color="#c62f2f" text="Chosen" />
      </Box>
    </Box>
  );
}

function Legend({ color, text }: { color: string; text: string }) {
  return (
    <Box sx={{ display: 'flex', alignItems: 'center', gap: 0.75 }}>
      <Box sx={{ width: 10, height: 10, borderRadius: 0.5, bgcolor: color }} />
      <Typography variant="caption" color="text.secondary">
        {text}
      </Typography>
    </Box>
  );
}
