// Redis stream ids ("<ms>-<seq>"): ordered by ms, then seq, both unsigned
// decimal integers that may exceed 2^53 (the server writes seq 2^64-1 for
// "just before <ms>"), so they are compared as digit strings.

function cmpDigits(a: string, b: string): number {
  a = a.replace(/^0+(?=\d)/, '');
  b = b.replace(/^0+(?=\d)/, '');
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isEventId(id: unknown): id is string {
  return typeof id === 'string' && /^\d+-\d+$/.test(id);
}

/** <0, 0, >0 like a comparator. Invalid ids sort first. */
export function cmpId(a: string, b: string): number {
  const va = isEventId(a), vb = isEventId(b);
  if (!va || !vb) return va === vb ? 0 : va ? 1 : -1;
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  return cmpDigits(am, bm) || cmpDigits(as, bs);
}

/** The larger of two ids (either may be null). */
export function maxId(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return cmpId(a, b) >= 0 ? a : b;
}
