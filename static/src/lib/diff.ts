// Unified diffs of Claude's editor calls, computed from the tool input
// (str_replace: old_str → new_str; create: file_text; insert: new_str after
// insert_line). Line diff with Myers' O(ND) algorithm.

export type DiffOp = { op: ' ' | '-' | '+'; text: string };

export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
  oldNo: number | null;
  newNo: number | null;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: DiffLine[];
}

export interface FileDiff {
  path: string;
  kind: 'create' | 'str_replace' | 'insert';
  hunks: Hunk[];
  added: number;
  removed: number;
  /** Line numbers are relative to the snippet (str_replace does not say where in the file it is). */
  relative: boolean;
}

export function splitLines(s: string): string[] {
  if (s === '') return [];
  const lines = s.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Shortest edit script from a to b (Myers 1986), as a list of ops. */
export function diffLines(a: string[], b: string[]): DiffOp[] {
  const n = a.length, m = b.length;
  // Common prefix and suffix first: most edits are small.
  let pre = 0;
  while (pre < n && pre < m && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < n - pre && suf < m - pre && a[n - 1 - suf] === b[m - 1 - suf]) suf++;
  const A = a.slice(pre, n - suf), B = b.slice(pre, m - suf);
  const mid = myers(A, B);
  const out: DiffOp[] = [];
  for (let i = 0; i < pre; i++) out.push({ op: ' ', text: a[i] });
  out.push(...mid);
  for (let i = n - suf; i < n; i++) out.push({ op: ' ', text: a[i] });
  return out;
}

function myers(a: string[], b: string[]): DiffOp[] {
  const n = a.length, m = b.length;
  if (n === 0) return b.map((t) => ({ op: '+' as const, text: t }));
  if (m === 0) return a.map((t) => ({ op: '-' as const, text: t }));
  const max = n + m;
  // Too large to diff finely in the browser: all out, all in.
  if (n * m > 25_000_000) return [...a.map((t) => ({ op: '-' as const, text: t })), ...b.map((t) => ({ op: '+' as const, text: t }))];
  const off = max;
  let v = new Int32Array(2 * max + 2);
  const trace: Int32Array[] = [];
  let done = false;
  for (let d = 0; d <= max && !done; d++) {
    trace.push(v.slice());
    const nv = v.slice();
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && v[off + k - 1] < v[off + k + 1])) x = v[off + k + 1];
      else x = v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      nv[off + k] = x;
      if (x >= n && y >= m) { done = true; break; }
    }
    v = nv;
  }
  trace.push(v.slice());
  // Backtrack.
  const ops: DiffOp[] = [];
  let x = n, y = m;
  for (let d = trace.length - 2; d >= 0 && (x > 0 || y > 0); d--) {
    const vd = trace[d];
    const k = x - y;
    let pk: number;
    if (k === -d || (k !== d && vd[off + k - 1] < vd[off + k + 1])) pk = k + 1;
    else pk = k - 1;
    const px = vd[off + pk];
    const py = px - pk;
    while (x > px && y > py) { ops.push({ op: ' ', text: a[x - 1] }); x--; y--; }
    if (d === 0) break;
    if (x === px) { ops.push({ op: '+', text: b[y - 1] }); y--; } else { ops.push({ op: '-', text: a[x - 1] }); x--; }
  }
  while (x > 0 && y > 0) { ops.push({ op: ' ', text: a[x - 1] }); x--; y--; }
  while (x > 0) { ops.push({ op: '-', text: a[x - 1] }); x--; }
  while (y > 0) { ops.push({ op: '+', text: b[y - 1] }); y--; }
  return ops.reverse();
}

/** Groups ops into hunks with `context` unchanged lines around each change. */
export function toHunks(ops: DiffOp[], context = 3, oldStart = 1, newStart = 1): Hunk[] {
  const lines: DiffLine[] = [];
  let o = oldStart, nn = newStart;
  for (const op of ops) {
    lines.push({ op: op.op, text: op.text, oldNo: op.op === '+' ? null : o, newNo: op.op === '-' ? null : nn });
    if (op.op !== '+') o++;
    if (op.op !== '-') nn++;
  }
  const changed = lines.map((l, i) => (l.op !== ' ' ? i : -1)).filter((i) => i >= 0);
  if (changed.length === 0) return [];
  const hunks: Hunk[] = [];
  let start = Math.max(0, changed[0] - context);
  let end = Math.min(lines.length - 1, changed[0] + context);
  const flush = () => {
    const ls = lines.slice(start, end + 1);
    const firstOld = ls.find((l) => l.oldNo !== null)?.oldNo ?? null;
    const firstNew = ls.find((l) => l.newNo !== null)?.newNo ?? null;
    const oldLines = ls.filter((l) => l.op !== '+').length;
    const newLines = ls.filter((l) => l.op !== '-').length;
    // An empty side starts at the line before (unified diff convention).
    const before = (side: 'oldNo' | 'newNo', base: number) => {
      for (let i = start - 1; i >= 0; i--) if (lines[i][side] !== null) return lines[i][side] as number;
      return base - 1;
    };
    hunks.push({
      oldStart: firstOld ?? before('oldNo', oldStart), oldLines,
      newStart: firstNew ?? before('newNo', newStart), newLines, lines: ls,
    });
  };
  for (let c = 1; c < changed.length; c++) {
    const i = changed[c];
    if (i - context <= end + 1) end = Math.min(lines.length - 1, i + context);
    else {
      flush();
      start = i - context;
      end = Math.min(lines.length - 1, i + context);
    }
  }
  flush();
  return hunks;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** The diff an editor call makes, from its input; null for calls that change nothing (view). */
export function editorDiff(input: Record<string, unknown>): FileDiff | null {
  const path = str(input.path) || '';
  const cmd = str(input.command);
  let ops: DiffOp[];
  let hunks: Hunk[];
  let kind: FileDiff['kind'];
  let relative = false;
  if (cmd === 'create') {
    kind = 'create';
    ops = splitLines(str(input.file_text) ?? '').map((t) => ({ op: '+' as const, text: t }));
    hunks = toHunks(ops, 3, 1, 1);
    if (hunks.length === 0) hunks = [{ oldStart: 0, oldLines: 0, newStart: 0, newLines: 0, lines: [] }];
  } else if (cmd === 'str_replace') {
    kind = 'str_replace';
    relative = true;
    ops = diffLines(splitLines(str(input.old_str) ?? ''), splitLines(str(input.new_str) ?? ''));
    hunks = toHunks(ops, 3);
  } else if (cmd === 'insert') {
    kind = 'insert';
    const after = typeof input.insert_line === 'number' ? input.insert_line : Number(input.insert_line) || 0;
    ops = splitLines(str(input.new_str) ?? str(input.insert_text) ?? '').map((t) => ({ op: '+' as const, text: t }));
    hunks = toHunks(ops, 3, after + 1, after + 1);
    if (hunks[0]) hunks[0].oldStart = after;
  } else {
    return null;
  }
  const added = ops.filter((o) => o.op === '+').length;
  const removed = ops.filter((o) => o.op === '-').length;
  return { path, kind, hunks, added, removed, relative };
}

/** The diff as unified-diff text (for copying; the UI renders hunks as rows). */
export function unifiedText(d: FileDiff): string {
  const out: string[] = [];
  out.push(`--- ${d.kind === 'create' ? '/dev/null' : `a${d.path}`}`);
  out.push(`+++ b${d.path}`);
  for (const h of d.hunks) {
    out.push(d.relative ? '@@ @@' : `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`);
    for (const l of h.lines) out.push(l.op + l.text);
  }
  return out.join('\n');
}
