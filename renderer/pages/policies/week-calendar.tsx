import type { DateSelectArg, EventChangeArg, EventClickArg } from '@fullcalendar/core';
import interactionPlugin from '@fullcalendar/interaction';
import FullCalendar from '@fullcalendar/react';
import timeGridPlugin from '@fullcalendar/timegrid';
import Box from '@mui/material/Box';
import { useMemo } from 'react';
import type { DayOfWeek, Policy } from '../../../app/policy/policy-schemas';
import { REFERENCE_DATE, policyEvents } from '../../lib/policy-calendar';

interface Props {
  readonly policy: Policy;
  readonly inForceId: string | undefined;
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

/**
 * FullCalendar's week grid over the reference week, in UTC standing for the site's wall
 * clock. Events are rebuilt from the policy on every change; the calendar owns nothing.
 */
export function WeekCalendar({ policy, inForceId, onSelect, onChange, onOpen }: Props) {
  const events = useMemo(() => policyEvents(policy, inForceId), [policy, inForceId]);
  const changed = (info: EventChangeArg): void => {
    const { start, end, extendedProps } = info.event;
    const { timeframeId, day } = extendedProps as { timeframeId: string; day: DayOfWeek };
    if (start === null || end === null) {
      info.revert();
      return;
    }
    void onChange(timeframeId, day, start, end).then((ok) => {
      if (!ok) info.revert();
    });
  };
  return (
    <Box
      data-testid="policy-calendar"
      sx={{
        '& .fc': { fontSize: '0.85rem' },
        '& .tl-in-force': { outline: '3px solid #ffb300', outlineOffset: '1px', zIndex: 2 },
        '& .fc-event': { cursor: 'pointer' },
      }}
    >
      <FullCalendar
        plugins={[timeGridPlugin, interactionPlugin]}
        initialView="timeGridWeek"
        initialDate={REFERENCE_DATE}
        timeZone="UTC"
        headerToolbar={false}
        firstDay={1}
        allDaySlot={false}
        dayHeaderFormat={{ weekday: 'long' }}
        slotLabelFormat={{ hour: '2-digit', minute: '2-digit', hour12: false }}
        eventTimeFormat={{ hour: '2-digit', minute: '2-digit', hour12: false }}
        slotDuration="01:00:00"
        snapDuration="00:15:00"
        expandRows
        height={720}
        selectable
        selectMirror
        editable
        eventResizableFromStart={false}
        events={events}
        select={(info: DateSelectArg) => {
          info.view.calendar.unselect();
          onSelect(info.start, info.end);
        }}
        eventDrop={changed}
        eventResize={changed}
        eventClick={(info: EventClickArg) =>
          onOpen((info.event.extendedProps as { timeframeId: string }).timeframeId)
        }
      />
    </Box>
  );
}
