/** Human tables by default, one JSON document with `--json`: every command prints through this. */
import type { Io } from './io.js';

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string | number | boolean | undefined | null;
}

export class Output {
  constructor(
    private readonly io: Io,
    readonly json: boolean,
  ) {}

  /** With --json: `document`; otherwise what `human` prints. */
  result(document: unknown, human: () => void): void {
    if (this.json) this.io.out(`${JSON.stringify(document, null, 2)}\n`);
    else human();
  }

  line(text = ''): void {
    this.io.out(`${text}\n`);
  }

  /** Progress and advice: stderr, so stdout stays parseable. */
  note(text: string): void {
    this.io.err(`${text}\n`);
  }

  table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): void {
    if (rows.length === 0) {
      this.line(empty);
      return;
    }
    const cells = rows.map((row) => columns.map((c) => cell(c.value(row))));
    const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
    const render = (values: readonly string[]) =>
      values
        .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
    this.line(render(columns.map((c) => c.header)));
    for (const row of cells) this.line(render(row));
  }

  /** Two aligned columns: label and value. */
  fields(pairs: readonly (readonly [string, string | number | boolean | undefined | null])[]): void {
    const width = Math.max(...pairs.map(([k]) => k.length));
    for (const [k, v] of pairs) this.line(`${`${k}:`.padEnd(width + 1)}  ${cell(v)}`);
  }
}

function cell(value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value).replace(/[\r\n\t]+/g, ' ');
}
