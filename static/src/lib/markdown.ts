// Markdown from Claude (untrusted: the model can be steered by what it
// reads) → sanitised HTML. marked parses (raw HTML in the source is escaped
// and shown as text); highlight.js colours code blocks; DOMPurify removes
// anything active (scripts, event handlers, javascript: URLs, iframes,
// forms, inline styles) before the HTML reaches the DOM.
import DOMPurify from 'dompurify';
import { Marked, type Tokens } from 'marked';
import { escapeHtml, highlight } from './highlight';

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Raw HTML in the markdown is shown as text, never parsed: Claude's
    // answers talk *about* HTML far more often than they need it, and
    // markup that never becomes DOM cannot do anything (DOMPurify below is
    // the second line of defence for the HTML that marked itself produces).
    html(token: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(token.text);
    },
    code(token: Tokens.Code): string {
      const lang = (token.lang || '').trim().split(/\s+/)[0] || '';
      const body = highlight(token.text, lang);
      const cls = lang ? ` class="hljs language-${escapeHtml(lang.replace(/[^\w+-]/g, ''))}"` : ' class="hljs"';
      return `<pre class="code-block"><code${cls}>${body}</code></pre>\n`;
    },
  },
});

const FORBID_TAGS = ['style', 'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'form', 'input',
  'button', 'textarea', 'select', 'option', 'link', 'meta', 'base', 'svg', 'math', 'template', 'dialog'];

let hooked = false;
function purifier(): typeof DOMPurify {
  if (!hooked) {
    hooked = true;
    DOMPurify.addHook('afterSanitizeAttributes', (node) => {
      if (node.nodeName === 'A') {
        const href = node.getAttribute('href') || '';
        if (/^\s*(https?:|mailto:)/i.test(href)) {
          node.setAttribute('target', '_blank');
          node.setAttribute('rel', 'noopener noreferrer nofollow');
        } else if (!href.startsWith('#')) {
          node.removeAttribute('href');
        }
      }
      if (node.nodeName === 'IMG') {
        // Only images of this origin or data: URLs load under the CSP; drop the rest quietly.
        const src = node.getAttribute('src') || '';
        if (!/^(data:image\/(png|gif|jpe?g|webp);|\/(?!\/))/i.test(src)) node.removeAttribute('src');
      }
    });
  }
  return DOMPurify;
}

/** Sanitises HTML (exported for tests and for other untrusted HTML). */
export function sanitize(html: string): string {
  return purifier().sanitize(html, {
    FORBID_TAGS,
    FORBID_ATTR: ['style', 'srcset', 'formaction', 'action', 'xlink:href', 'ping', 'background'],
    ALLOW_DATA_ATTR: false,
    ALLOW_UNKNOWN_PROTOCOLS: false,
    USE_PROFILES: { html: true },
  }) as string;
}

const cache = new Map<string, string>();
const CACHE_MAX = 2000;

/** Markdown → safe HTML. Cached (not while streaming): history items render the same text again and again. */
export function renderMarkdown(src: string, useCache = true): string {
  const hit = useCache ? cache.get(src) : undefined;
  if (hit !== undefined) return hit;
  let html: string;
  try {
    html = marked.parse(src) as string;
  } catch {
    html = `<p>${escapeHtml(src)}</p>`;
  }
  const out = sanitize(html);
  if (!useCache) return out;
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(src, out);
  return out;
}

/**
 * Copies text to the clipboard: the async Clipboard API where the page may
 * use it, else a hidden textarea and execCommand('copy'). Resolves to
 * whether it worked (never throws).
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the old way
  }
  try {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'sr-only';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand('copy');
    ta.remove();
    return ok;
  } catch {
    return false;
  }
}

/**
 * Adds a Copy button to each code block of rendered markdown (after
 * sanitising: the buttons are made here, never parsed from HTML).
 */
export function addCodeCopyButtons(root: HTMLElement): void {
  root.querySelectorAll('pre.code-block').forEach((pre) => {
    if (pre.querySelector(':scope > .copy-code')) return;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn subtle copy-code';
    b.textContent = 'Copy';
    b.setAttribute('aria-label', 'Copy this code');
    b.addEventListener('click', () => {
      const code = pre.querySelector('code');
      void copyText(code ? code.textContent || '' : '').then((ok) => {
        b.textContent = ok ? 'Copied' : 'Copy failed';
        setTimeout(() => { b.textContent = 'Copy'; }, 1500);
      });
    });
    pre.appendChild(b);
  });
}
