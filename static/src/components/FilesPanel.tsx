import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, urls } from '../lib/api';
import { formatBytes } from '../lib/format';
import { highlight, languageForPath } from '../lib/highlight';
import type { DirListing, FileEntry } from '../lib/types';
import { explainError } from '../lib/words';
import { ConfirmDialog, Dialog } from './Dialog';
import type { ToastFn } from './Toasts';
import { Icon } from './Icon';

interface Props {
  sessionId: string;
  /** Bumped on every file.changed event: the listing refreshes. */
  version: number;
  /** "Open in VS Code" (null when the user may not use code-server). */
  vscodeHref: string | null;
  onClose: () => void;
  toast: ToastFn;
}

type Viewed =
  | { path: string; kind: 'loading' }
  | { path: string; kind: 'text'; text: string; size: number }
  | { path: string; kind: 'image' }
  | { path: string; kind: 'binary'; size: number; type: string }
  | { path: string; kind: 'error'; message: string };

const PREVIEW_MAX = 1024 * 1024;

function join(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

export function FilesPanel({ sessionId, version, vscodeHref, onClose, toast }: Props) {
  const [dir, setDir] = useState('');
  const [listing, setListing] = useState<DirListing | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [viewed, setViewed] = useState<Viewed | null>(null);
  const [dragging, setDragging] = useState(false);
  const [uploads, setUploads] = useState<string[]>([]);
  const [deleting, setDeleting] = useState<{ path: string; dir: boolean } | null>(null);
  const [busy, setBusy] = useState(false);
  const [folderName, setFolderName] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const dragDepth = useRef(0);

  const load = useCallback(async (path: string) => {
    try {
      const l = await api.listFiles(sessionId, path);
      l.entries.sort((a, b) => (a.type === 'directory') !== (b.type === 'directory') ? (a.type === 'directory' ? -1 : 1) : a.name.localeCompare(b.name));
      setListing(l);
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && path) {
        setDir(''); // the folder went away
        return;
      }
      if (!(e instanceof ApiError && e.status === 401)) setError(explainError(e, 'list the files').title);
    }
  }, [sessionId]);

  useEffect(() => {
    load(dir);
  }, [dir, load]);

  // file.changed: refresh (debounced: a command can change many files).
  useEffect(() => {
    if (version === 0) return;
    const t = setTimeout(() => {
      load(dir);
      if (viewed && viewed.kind === 'text') openFile(viewed.path, true);
    }, 300);
    return () => clearTimeout(t);
  }, [version]); // eslint-disable-line react-hooks/exhaustive-deps

  const openFile = async (path: string, quiet = false) => {
    if (!quiet) setViewed({ path, kind: 'loading' });
    try {
      const res = await fetch(urls.fileContent(sessionId, path), { credentials: 'same-origin' });
      if (!res.ok) {
        let msg = `HTTP ${res.status}`;
        try {
          msg = (await res.json()).error.message;
        } catch { /* not JSON */ }
        throw new ApiError(res.status, 'http', msg);
      }
      const type = res.headers.get('Content-Type') || '';
      const size = Number(res.headers.get('Content-Length') || 0);
      if (type.startsWith('image/')) {
        setViewed({ path, kind: 'image' });
      } else if (type.startsWith('text/') || type.includes('json')) {
        if (size > PREVIEW_MAX) setViewed({ path, kind: 'binary', size, type });
        else setViewed({ path, kind: 'text', text: await res.text(), size });
      } else {
        setViewed({ path, kind: 'binary', size, type });
      }
    } catch (e) {
      if (quiet) return;
      setViewed({ path, kind: 'error', message: explainError(e, 'open the file').title });
    }
  };

  const upload = async (files: FileList | File[]) => {
    for (const f of Array.from(files)) {
      const path = join(dir, f.name);
      setUploads((u) => [...u, f.name]);
      try {
        await api.putFile(sessionId, path, f);
        toast({ level: 'info', title: `Uploaded ${f.name}.` });
      } catch (e) {
        toast({ level: 'error', ...explainError(e, `upload ${f.name}`) });
      } finally {
        setUploads((u) => u.filter((n) => n !== f.name));
      }
    }
    load(dir);
  };

  const doDelete = async () => {
    if (!deleting) return;
    setBusy(true);
    try {
      await api.deleteFile(sessionId, deleting.path);
      if (viewed && (viewed.path === deleting.path || viewed.path.startsWith(`${deleting.path}/`))) setViewed(null);
      setDeleting(null);
      load(dir);
    } catch (e) {
      toast({ level: 'error', ...explainError(e, 'delete it') });
    } finally {
      setBusy(false);
    }
  };

  const newFolder = async (e: Event) => {
    e.preventDefault();
    const name = (folderName || '').trim();
    if (!name) return;
    try {
      await api.mkdir(sessionId, join(dir, name));
      setFolderName(null);
      load(dir);
    } catch (err) {
      toast({ level: 'error', ...explainError(err, 'create the folder') });
    }
  };

  const crumbs = dir ? dir.split('/') : [];
  const onEntry = (e: FileEntry) => {
    const p = join(dir, e.name);
    if (e.type === 'directory') {
      setDir(p);
      setViewed(null);
    } else openFile(p);
  };

  return (
    <aside
      id="files-panel"
      class={`files${dragging ? ' dragging' : ''}`}
      aria-label="Files"
      onDragEnter={(e) => { e.preventDefault(); dragDepth.current++; setDragging(true); }}
      onDragOver={(e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'; }}
      onDragLeave={() => { dragDepth.current = Math.max(0, dragDepth.current - 1); if (dragDepth.current === 0) setDragging(false); }}
      onDrop={(e) => {
        e.preventDefault();
        dragDepth.current = 0;
        setDragging(false);
        if (e.dataTransfer?.files?.length) upload(e.dataTransfer.files);
      }}
    >
      <div class="files-head">
        <h2>Files</h2>
        <button type="button" class="icon-btn" aria-label="Close the files panel" onClick={onClose}><Icon name="close" /></button>
      </div>
      <div class="files-toolbar">
        <button type="button" class="btn subtle small" onClick={() => fileInput.current?.click()}>Upload</button>
        <input ref={fileInput} type="file" multiple class="sr-only" tabIndex={-1} aria-hidden="true"
          onChange={(e) => {
            const t = e.target as HTMLInputElement;
            if (t.files?.length) upload(t.files);
            t.value = '';
          }} />
        <button type="button" class="btn subtle small" onClick={() => setFolderName('')}>New folder</button>
        <a class="btn subtle small" href={urls.archive(sessionId)} download>Download all</a>
        <button type="button" class="btn subtle small" onClick={() => load(dir)} aria-label="Refresh the file list"><Icon name="refresh" /></button>
        {vscodeHref && <a class="btn subtle small" href={vscodeHref} target="_blank" rel="noopener noreferrer">Open in VS Code</a>}
      </div>
      <nav class="crumbs" aria-label="Folder">
        <button type="button" class="crumb" onClick={() => { setDir(''); setViewed(null); }}>workspace</button>
        {crumbs.map((c, i) => (
          <span key={i}>
            <span aria-hidden="true"> / </span>
            <button type="button" class="crumb" onClick={() => { setDir(crumbs.slice(0, i + 1).join('/')); setViewed(null); }}>{c}</button>
          </span>
        ))}
      </nav>
      {error && <p class="form-error" role="alert">{error}</p>}
      {uploads.length > 0 && <p class="muted small" role="status">Uploading {uploads.join(', ')}…</p>}
      <ul class="file-list" data-testid="file-list">
        {listing && listing.entries.length === 0 && <li class="muted pad small">No files yet. Drop files here to upload them.</li>}
        {listing?.entries.map((e) => {
          const p = join(dir, e.name);
          return (
            <li key={e.name} class={`file-row ${e.type}${viewed?.path === p ? ' current' : ''}`}>
              <button type="button" class="file-open" onClick={() => onEntry(e)} title={e.type === 'directory' ? `Open folder ${e.name}` : `View ${e.name}`}>
                <span class="file-icon"><Icon name={e.type === 'directory' ? 'folder' : 'file'} /></span>
                <span class="file-name">{e.name}</span>
                <span class="file-size muted">{e.type === 'directory' ? '' : formatBytes(e.size)}</span>
              </button>
              {e.type !== 'directory' && (
                <a class="icon-btn" href={urls.fileContent(sessionId, p, true)} download={e.name} aria-label={`Download ${e.name}`} title="Download"><Icon name="download" /></a>
              )}
              <button type="button" class="icon-btn" aria-label={`Delete ${e.name}`} title="Delete"
                onClick={() => setDeleting({ path: p, dir: e.type === 'directory' })}><Icon name="trash" /></button>
            </li>
          );
        })}
        {listing?.truncated && <li class="muted small pad">Only the first entries are shown.</li>}
      </ul>
      <p class="drop-hint muted small">Drag and drop files here to upload them to this folder.</p>
      {viewed && <FileViewer sessionId={sessionId} v={viewed} onClose={() => setViewed(null)} />}
      <Dialog open={folderName !== null} title="New folder" onClose={() => setFolderName(null)} labelId="mkdir-title">
        <form class="form" onSubmit={newFolder}>
          <label for="mkdir-name">Name <span class="muted">(in /{dir || ''})</span></label>
          <input id="mkdir-name" value={folderName || ''} autoFocus maxLength={255}
            onInput={(e) => setFolderName((e.target as HTMLInputElement).value)} />
          <div class="dialog-actions">
            <button type="button" class="btn" onClick={() => setFolderName(null)}>Cancel</button>
            <button type="submit" class="btn primary" disabled={!(folderName || '').trim()}>Create folder</button>
          </div>
        </form>
      </Dialog>
      <ConfirmDialog
        open={deleting !== null}
        title={deleting?.dir ? 'Delete this folder?' : 'Delete this file?'}
        body={<p><code>{deleting?.path}</code>{deleting?.dir ? ' and everything in it' : ''} will be deleted. This cannot be undone.</p>}
        confirmLabel="Delete"
        danger
        busy={busy}
        onConfirm={doDelete}
        onCancel={() => setDeleting(null)}
      />
    </aside>
  );
}

function FileViewer({ sessionId, v, onClose }: { sessionId: string; v: Viewed; onClose: () => void }) {
  const name = v.path.split('/').pop() || v.path;
  return (
    <section class="viewer" aria-label={`File ${v.path}`}>
      <div class="viewer-head">
        <code class="viewer-path" title={v.path}>{v.path}</code>
        <a class="btn subtle small" href={urls.fileContent(sessionId, v.path, true)} download={name}>Download</a>
        <button type="button" class="icon-btn" aria-label="Close the file" onClick={onClose}><Icon name="close" /></button>
      </div>
      {v.kind === 'loading' && <p class="muted pad small">Loading…</p>}
      {v.kind === 'error' && <p class="form-error pad">{v.message}</p>}
      {v.kind === 'image' && <img class="viewer-img" src={urls.fileContent(sessionId, v.path)} alt={name} />}
      {v.kind === 'binary' && (
        <p class="muted pad small">{v.size > PREVIEW_MAX ? `Too large to preview (${formatBytes(v.size)}).` : `This file cannot be shown here (${v.type || 'binary'}).`} Download it instead.</p>
      )}
      {v.kind === 'text' && (
        <pre class="code-block viewer-code"><code class="hljs" dangerouslySetInnerHTML={{ __html: highlight(v.text, languageForPath(v.path)) }} /></pre>
      )}
    </section>
  );
}

