// Syntax highlighting: highlight.js core with a small set of languages,
// bundled (no CDN). Output is <span class="hljs-..."> only (no styles), so it
// is CSP-safe; the colours are in style.css.
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import makefile from 'highlight.js/lib/languages/makefile';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import ini from 'highlight.js/lib/languages/ini';
import dockerfile from 'highlight.js/lib/languages/dockerfile';

const LANGS: Record<string, Parameters<typeof hljs.registerLanguage>[1]> = {
  bash, c, cpp, css, diff, go, java, javascript, json, makefile, markdown, python, rust, shell, sql,
  typescript, xml, yaml, ini, dockerfile,
};
for (const [name, def] of Object.entries(LANGS)) hljs.registerLanguage(name, def);

const EXT: Record<string, string> = {
  sh: 'bash', bash: 'bash', zsh: 'bash', c: 'c', h: 'c', cc: 'cpp', cpp: 'cpp', cxx: 'cpp', hpp: 'cpp',
  css: 'css', diff: 'diff', patch: 'diff', go: 'go', java: 'java', js: 'javascript', mjs: 'javascript',
  cjs: 'javascript', jsx: 'javascript', json: 'json', md: 'markdown', markdown: 'markdown', py: 'python',
  rs: 'rust', sql: 'sql', ts: 'typescript', tsx: 'typescript', html: 'xml', htm: 'xml', xml: 'xml',
  svg: 'xml', yml: 'yaml', yaml: 'yaml', toml: 'ini', ini: 'ini', cfg: 'ini', conf: 'ini',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[ch]!));
}

/** The language for a file name, or null. */
export function languageForPath(path: string): string | null {
  const base = path.split('/').pop() || '';
  if (/^makefile$/i.test(base) || /\.mk$/.test(base)) return 'makefile';
  if (/^dockerfile$/i.test(base)) return 'dockerfile';
  const m = /\.([A-Za-z0-9]+)$/.exec(base);
  return m ? EXT[m[1].toLowerCase()] || null : null;
}

/** Highlighted HTML (escaped text when the language is unknown or the code too large). */
export function highlight(code: string, lang: string | null | undefined): string {
  const l = lang ? lang.toLowerCase() : '';
  const name = l && hljs.getLanguage(l) ? l : l && EXT[l] ? EXT[l] : '';
  if (!name || code.length > 200_000) return escapeHtml(code);
  try {
    return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
  } catch {
    return escapeHtml(code);
  }
}
