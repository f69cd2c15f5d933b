import { useRef, useState } from 'preact/hooks';
import { IMAGES_MAX, imageUrl, readImage, type PendingImage } from '../lib/images';
import { Dialog } from './Dialog';
import type { ViewItem } from '../lib/transcript';
import type { ImageBlock } from '../lib/types';

/**
 * Images for the next message: pasted, dropped or picked (PNG, JPEG, GIF,
 * WebP; 5 MB and 5 images at most, as the server checks too).
 */
export function useImageAttachments() {
  const [images, setImages] = useState<PendingImage[]>([]);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const count = useRef(0);
  count.current = images.length;

  const add = async (files: File[]) => {
    setError(null);
    for (const f of files) {
      if (count.current >= IMAGES_MAX) {
        setError(`At most ${IMAGES_MAX} images per message.`);
        break;
      }
      try {
        const img = await readImage(f);
        count.current++;
        setImages((l) => [...l, img]);
      } catch (e) {
        setError((e as Error).message);
      }
    }
  };
  const imageFiles = (dt: DataTransfer | null): File[] =>
    dt ? Array.from(dt.files || []).filter((f) => f.type.startsWith('image/')) : [];

  return {
    images,
    error,
    clear: () => { setImages([]); setError(null); },
    onPaste: (e: ClipboardEvent) => {
      const files = imageFiles(e.clipboardData);
      if (files.length === 0) return; // plain text pastes as usual
      e.preventDefault();
      void add(files);
    },
    onDragOver: (e: DragEvent) => {
      if (e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files')) e.preventDefault();
    },
    onDrop: (e: DragEvent) => {
      const all = e.dataTransfer ? Array.from(e.dataTransfer.files || []) : [];
      if (all.length === 0) return; // dropped text: the textarea takes it
      // Never let the browser open a dropped file in place of the app.
      e.preventDefault();
      const files = imageFiles(e.dataTransfer);
      if (files.length) void add(files); // (clears the last error first)
      if (files.length < all.length) {
        setError('Only images can go with a message; upload other files in the Files panel and mention them with @.');
      }
    },
    /** The "attach an image" button and its hidden file input. */
    picker: (
      <>
        <input ref={input} type="file" class="sr-only" accept="image/png,image/jpeg,image/gif,image/webp" multiple
          tabIndex={-1} aria-hidden="true" data-testid="image-input"
          onChange={(e) => {
            const el = e.target as HTMLInputElement;
            void add(Array.from(el.files || []));
            el.value = '';
          }} />
        <button type="button" class="btn subtle attach-image" title="Attach images (or paste or drop them here)"
          aria-label="Attach images" onClick={() => input.current?.click()}>Image</button>
      </>
    ),
    pending: images.length > 0 || error ? (
      <div class="pending-attachments" aria-label="Images to send">
        {images.map((img) => (
          <span class="thumb pending" key={img.id}>
            <img src={`data:${img.mediaType};base64,${img.data}`} alt={img.name} />
            <button type="button" class="icon-btn remove-image" aria-label={`Remove ${img.name}`}
              onClick={() => setImages((l) => l.filter((x) => x.id !== img.id))}>×</button>
          </span>
        ))}
        {error && <span class="attach-error" role="alert">{error}</span>}
      </div>
    ) : null,
  };
}

/** What a message carried: attached files (by path) and image thumbnails; a click shows an image in full. */
export function MessageAttachments({ images, files }: {
  images?: Array<{ source?: { type?: string; media_type?: string; data?: string } }>;
  files?: string[];
}) {
  const [big, setBig] = useState<string | null>(null);
  if (!images?.length && !files?.length) return null;
  return (
    <div class="msg-attachments">
      {files?.map((p) => <span class="file-chip" key={p} title={`The content of ${p} was attached`}>@{p}</span>)}
      {images?.map((b, i) => {
        const url = imageUrl(b);
        if (!url) return <span class="thumb broken" key={i}>[image]</span>;
        return (
          <button type="button" class="thumb" key={i} aria-label="Show the image in full size" onClick={() => setBig(url)}>
            <img src={url} alt={`Image ${i + 1}`} />
          </button>
        );
      })}
      <Dialog open={big !== null} title="Image" labelId="image-full-title" onClose={() => setBig(null)}>
        {big && <img class="image-full" src={big} alt="The image in full size" />}
        <div class="dialog-actions">
          <button type="button" class="btn" onClick={() => setBig(null)}>Close</button>
        </div>
      </Dialog>
    </div>
  );
}

/** What this window sent with a message, by run id ("pending" before the POST answers). */
export type SentAttachments = Record<string, { images: ImageBlock[]; files: string[] }>;

/**
 * The transcript items with the images and files this window just sent,
 * shown at once on their prompt (queued, pending, or running before the
 * history has it); once the history holds the prompt, its own blocks win.
 */
export function withSentAttachments(items: ViewItem[], sent: SentAttachments): ViewItem[] {
  if (Object.keys(sent).length === 0) return items;
  // A prompt merged into an earlier unanswered one (keys p:<run>.<n>): its first text is not ours.
  const merged = new Set(items.filter((it) => it.key.startsWith('p:') && it.key.includes('.')).map((it) => it.key.slice(2, it.key.indexOf('.'))));
  return items.map((it) => {
    if (it.kind !== 'user' || it.images || it.files) return it;
    const k = it.key === 'pending' ? 'pending' : it.key.startsWith('p:') && !it.key.includes('.') ? it.key.slice(2) : null;
    if (k !== null && merged.has(k)) return it;
    const x = k !== null ? sent[k] : undefined;
    if (!x || (!x.images.length && !x.files.length)) return it;
    return { ...it, ...(x.images.length ? { images: x.images } : {}), ...(x.files.length ? { files: x.files } : {}) };
  });
}
