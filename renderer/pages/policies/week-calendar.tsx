import type { DateSelectArg, EventChangeArg, EventClickArg } from '@fullcalendar/core';
import interactionPlugin from '@fullcalendar/interaction';
import FullCalendar from '@fullcalendar/react';
import timeGridPlugin from '@fullcalendar/timegrid';
import Box from '@mui/material/Box';
import { useCallback, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { DayOfWeek, Policy } from '../../../app/policy/policy-schemas';
import { REFERENCE_DATE, policyEvents, type EventPrediction } from '../../lib/policy-calendar';
import { VERDICT_COLOURS } from '../../lib/plan-view';

interface Props {
  readonly policy: Policy;
  readonly inForceId: string | undefined;
  /** Per timeframe id: the planner's verdict, drawn as a coloured edge and in the title. */
  readonly predictions?: ReadonlyMap<string, EventPrediction> | undefined;
  /** A drag across empty time. */
  readonly onSelect: (start: Date, end: Date) => void;
  /** An occurrence moved or resized; false (refused) reverts it. */
  readonly onChange: (
    timeframeId: string,
    day: DayOfWeek,
    start: Date,
    end: Date,
  ) => Promise<boolean>;
  readonly onOpen: (timeframeId: string) => void;
}

const PLUGINS = [timeGridPlugin, interactionPlugin];
const DAY_HEADER_FORMAT = { weekday: 'long' } as const;
const TIME_FORMAT = { hour: '2-digit', minute: '2-digit', hour12: false } as const;

/**
 * FullCalendar's week grid over the reference week, in UTC standing for the site's wall
 * clock. Events are rebuilt from the policy on every change; the calendar owns nothing.
 *
 * Every option handed to FullCalendar keeps its identity across renders (constants above,
 * handlers that read the latest props from a ref): FullCalendar rebuilds its context when any
 * option changes, and a rebuild between a drag's last move and its drop (the page re-renders
 * every second) made it treat the drop as one into another calendar, losing the move.
 */
export function WeekCalendar({
  policy,
  inForceId,
  predictions,
  onSelect,
  onChange,
  onOpen,
}: Props) {
  // A plan that lands during a drag must not rebuild the events under it (FullCalendar then
  // drops the move or lands it a slot off): the verdicts stay as they were until the drop.
  const [frozen, setFrozen] = useState<Props['predictions'] | null>(null);
  const shown = frozen === null ? predictions : frozen;
  const events = useMemo(() => policyEvents(policy, inForceId, shown), [policy, inForceId, shown]);
  const latestPredictions = useRef(predictions);
  useLayoutEffect(() => {
    latestPredictions.current = predictions;
  });
  const freeze = useCallback(() => setFrozen(() => latestPredictions.current), []);
  const thaw = useCallback(() => setFrozen(null), []);
  const latest = useRef({ onSelect, onChange, onOpen });
  useLayoutEffect(() => {
    latest.current = { onSelect, onChange, onOpen };
  });
  const changed = useCallback((info: EventChangeArg): void => {
    const { start, end, extendedProps } = info.event;
    const { timeframeId, day } = extendedProps as { timeframeId: string; day: DayOfWeek };
    if (start === null || end === null) {
      info.revert();
      return;
    }
    void latest.current.onChange(timeframeId, day, start, end).then((ok) => {
      if (!ok) info.revert();
    });
  }, []);
  const selected = useCallback((info: DateSelectArg): void => {
    info.view.calendar.unselect();
    latest.current.onSelect(info.start, info.end);
  }, []);
  const clicked = useCallback((info: EventClickArg): void => {
    latest.current.onOpen((info.event.extendedProps as { timeframeId: string }).timeframeId);
  }, []);
  return (
    <Box
      data-testid="policy-calendar"
      sx={{
        '& .fc': { fontSize: '0.85rem' },
        '& .tl-in-force': { outline: '3px solid #ffb300', outlineOffset: '1px', zIndex: 2 },
        '& .fc-event': { cursor: 'pointer' },
        // The verdict as a thick left edge, over the timeframe's own colour.
        '& .tl-verdict-met': { borderLeft: `8px solid ${VERDICT_COLOURS.met} !important` },
        '& .tl-verdict-at-risk': {
          borderLeft: `8px solid ${VERDICT_COLOURS['at-risk']} !important`,
        },
        '& .tl-verdict-missed': { borderLeft: `8px solid ${VERDICT_COLOURS.missed} !important` },
      }}
    >
      <FullCalendar
        plugins={PLUGINS}
        initialView="timeGridWeek"
        initialDate={REFERENCE_DATE}
        timeZone="UTC"
        headerToolbar={false}
        firstDay={1}
        allDaySlot={false}
        dayHeaderFormat={DAY_HEADER_FORMAT}
        slotLabelFormat={TIME_FORMAT}
        eventTimeFormat={TIME_FORMAT}
        slotDuration="01:00:00"
        snapDuration="00:15:00"
        expandRows
        height={720}
        selectable
        selectMirror
        editable
        eventResizableFromStart={false}
        events={events}
        select={selected}
        eventDrop={changed}
        eventResize={changed}
        eventDragStart={freeze}
        eventDragStop={thaw}
        eventResizeStart={freeze}
        eventResizeStop={thaw}
        eventClick={clicked}
      />
    </Box>
  );
}
