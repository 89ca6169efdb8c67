/** Markdown for job summaries. Cells are escaped so that a `|` or newline in a value cannot break the table. */

function escapeCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, '<br>');
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.map(escapeCell).join(' | ')} |`;
  return (
    [line(headers), `|${headers.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n') +
    '\n'
  );
}

export function heading(text: string, level = 3): string {
  return `${'#'.repeat(level)} ${text}\n\n`;
}

/** Inline code that survives backticks inside the value. */
export function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  return `${fence}${text}${fence}`;
}
