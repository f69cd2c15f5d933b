// Images and @-mentioned files that go with a message (fcgi-app/attach.h has
// the server's limits; these mirror them for early, friendly answers).
import type { ImageBlock } from './types';

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export const IMAGE_MAX_BYTES = 5 * 1024 * 1024;
export const IMAGES_MAX = 5;
export const FILES_MAX = 5;
/** The text block the server makes of an attached file starts with this. */
export const ATTACHED_PREFIX = '<attached_file path="';

/** An image waiting in the composer. */
export interface PendingImage {
  id: string;
  name: string;
  mediaType: string;
  /** base64, as sent */
  data: string;
  size: number;
}

let seq = 0;

/** Reads a pasted, dropped or picked file as an image block; throws an Error with a message for people. */
export async function readImage(file: File): Promise<PendingImage> {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type)) {
    throw new Error(`${file.name || 'This file'} is not a PNG, JPEG, GIF or WebP image.`);
  }
  if (file.size > IMAGE_MAX_BYTES) {
    throw new Error(`${file.name || 'The image'} is larger than 5 MB.`);
  }
  const buf = new Uint8Array(await file.arrayBuffer());
  return { id: `img${++seq}`, name: file.name || 'image', mediaType: file.type, data: toBase64(buf), size: buf.length };
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  const CH = 0x8000;
  for (let i = 0; i < bytes.length; i += CH) s += String.fromCharCode(...bytes.subarray(i, i + CH));
  return btoa(s);
}

export function imageBlock(img: PendingImage): ImageBlock {
  return { type: 'image', source: { type: 'base64', media_type: img.mediaType, data: img.data } };
}

/** A data: URL for an image block (only the four types; anything else gives ''). */
export function imageUrl(b: { source?: { type?: string; media_type?: string; data?: string } }): string {
  const s = b.source;
  if (!s || s.type !== 'base64' || !(IMAGE_TYPES as readonly string[]).includes(String(s.media_type))) return '';
  if (typeof s.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s.data)) return '';
  return `data:${s.media_type};base64,${s.data}`;
}

/** The path of an attached-file text block, or null when the text is not one. */
export function attachedPath(text: string): string | null {
  if (!text.startsWith(ATTACHED_PREFIX)) return null;
  const end = text.indexOf('">', ATTACHED_PREFIX.length);
  if (end < 0) return null;
  return text.slice(ATTACHED_PREFIX.length, end)
    .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The @-mentions of text that name one of the picked files (each once, in order). */
export function mentionedFiles(text: string, picked: string[]): string[] {
  const out: string[] = [];
  for (const p of picked) {
    const at = `@${p}`;
    let i = text.indexOf(at);
    while (i >= 0) {
      const after = text.charAt(i + at.length);
      if ((i === 0 || /\s/.test(text.charAt(i - 1))) && (after === '' || /[\s,.;:!?)]/.test(after))) break;
      i = text.indexOf(at, i + 1);
    }
    if (i >= 0 && !out.includes(p)) out.push(p);
  }
  return out.slice(0, FILES_MAX);
}

/** The @word being typed at the caret: its start and the query, or null. */
export function mentionAt(text: string, caret: number): { start: number; query: string } | null {
  let i = caret - 1;
  while (i >= 0 && !/\s/.test(text.charAt(i))) {
    if (text.charAt(i) === '@') {
      if (i > 0 && !/\s/.test(text.charAt(i - 1))) return null;
      return { start: i, query: text.slice(i + 1, caret) };
    }
    i--;
  }
  return null;
}
