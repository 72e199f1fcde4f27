/** Columns padded to their widest cell; widths ignore colour codes. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const visible = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '').length
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ''))))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - visible(cell) + 2)))
      .join('')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}
