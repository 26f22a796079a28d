/** "6 s", "2 min", "2 min 30 s", "1 h 5 min": a duration in seconds as an admin reads it. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${rest} s`;
  }
  const h = Math.floor(s / 3600);
  const min = Math.round((s % 3600) / 60);
  return min === 0 ? `${h} h` : `${h} h ${min} min`;
}
