import TableBody from '@mui/material/TableBody';
import TableCell from '@mui/material/TableCell';
import TableRow from '@mui/material/TableRow';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { Fragment, useLayoutEffect, useRef, useState, type ReactNode } from 'react';

/** Below this many rows every row is rendered: the cost is small and find-in-page works. */
export const VIRTUAL_FROM_ROWS = 60;

interface Props<T> {
  readonly items: readonly T[];
  readonly rowKey: (item: T) => string;
  readonly renderRow: (item: T) => ReactNode;
  /**
   * A row's usual height in px. Rows are not measured: measuring forces a layout in every
   * commit (a 60 ms task on a page switch), and a row a little off only shifts which rows the
   * overscan draws.
   */
  readonly estimateRowPx: number;
  readonly columns: number;
}

/**
 * A table body for the long tables of a large estate (500 VPGs): past VIRTUAL_FROM_ROWS rows,
 * only the rows near the viewport exist (the page itself scrolls, so the window is the
 * scroller), with spacer rows keeping the scrollbar true. Rows update on every rpo.tick; a row
 * that is not rendered costs nothing.
 */
export function VirtualTableBody<T>({
  items,
  rowKey,
  renderRow,
  estimateRowPx,
  columns,
}: Props<T>) {
  if (items.length < VIRTUAL_FROM_ROWS) {
    return (
      <TableBody>
        {items.map((item) => (
          <Fragment key={rowKey(item)}>{renderRow(item)}</Fragment>
        ))}
      </TableBody>
    );
  }
  return (
    <Windowed
      items={items}
      rowKey={rowKey}
      renderRow={renderRow}
      estimateRowPx={estimateRowPx}
      columns={columns}
    />
  );
}

function Windowed<T>({ items, rowKey, renderRow, estimateRowPx, columns }: Props<T>) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [margin, setMargin] = useState(0);
  useLayoutEffect(() => {
    const top = body.current?.getBoundingClientRect().top;
    if (top !== undefined) setMargin(top + window.scrollY);
  }, []);
  const virtualizer = useWindowVirtualizer({
    count: items.length,
    estimateSize: () => estimateRowPx,
    overscan: 3,
    // Rows that scroll in render with the next frame, batched, not one synchronous pass per
    // scroll event.
    useFlushSync: false,
    scrollMargin: margin,
    getItemKey: (i) => rowKey(items[i]!),
  });
  const shown = virtualizer.getVirtualItems();
  const first = shown[0];
  const last = shown[shown.length - 1];
  const before = first === undefined ? 0 : first.start - margin;
  const after = last === undefined ? 0 : virtualizer.getTotalSize() - (last.end - margin);
  return (
    <TableBody ref={body}>
      {before > 0 && <Spacer height={before} columns={columns} />}
      {shown.map((v) => (
        <Fragment key={v.key}>{renderRow(items[v.index]!)}</Fragment>
      ))}
      {after > 0 && <Spacer height={after} columns={columns} />}
    </TableBody>
  );
}

function Spacer({ height, columns }: { height: number; columns: number }) {
  return (
    <TableRow aria-hidden sx={{ height }}>
      <TableCell colSpan={columns} sx={{ p: 0, border: 0 }} />
    </TableRow>
  );
}
