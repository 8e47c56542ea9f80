// Human output of the inspection commands: tables as kubectl and cilium print them, and the
// `Key:   Value` lines of `cilium status`.

/** Aligned columns, headers in capitals, three spaces between columns. */
export function formatTable(head: string[], rows: Array<Array<string | number | boolean>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('   ');
  return cells.map((r) => line(r).trimEnd()).join('\n') + '\n';
}

/** `cilium status` keys end at a fixed column (25), whatever the key: values line up down the page. */
export const STATUS_KEY_WIDTH = 25;

export function formatStatusLines(lines: Array<[string, string]>): string {
  return lines.map(([k, v]) => `${`${k}:`.padEnd(STATUS_KEY_WIDTH)}${v}`.trimEnd()).join('\n') + '\n';
}

/** 4095 → "4,095", as the hubble CLI prints flow counts (without waking Intl for it). */
export const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
