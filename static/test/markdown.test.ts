import { describe, expect, it } from 'vitest';
import { renderMarkdown, sanitize } from '../src/lib/markdown';

// Payloads a model could be tricked into writing. None may reach the DOM
// in an active form.
const PAYLOADS = [
  '<script>window.__xss = 1</script>',
  '<img src=x onerror="window.__xss = 1">',
  '<iframe src="javascript:window.__xss=1"></iframe>',
  '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
  '[click](javascript:window.__xss=1)',
  '[click](JaVaScRiPt:window.__xss=1)',
  '[click](  javascript:window.__xss=1)',
  '<a href="javascript:window.__xss=1">x</a>',
  '<a href="data:text/html,<script>window.__xss=1</script>">x</a>',
  '<svg onload="window.__xss=1"><circle r=1></circle></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=1">',
  '<details open ontoggle="window.__xss=1">x</details>',
  '<div style="background:url(javascript:window.__xss=1)">styled</div>',
  '<form action="javascript:window.__xss=1"><button>go</button></form>',
  '<object data="javascript:window.__xss=1"></object><embed src="javascript:window.__xss=1">',
  '<style>body{display:none}</style>',
  '![img](javascript:window.__xss=1)',
  '<a href="#" onclick="window.__xss=1">x</a>',
  '<base href="https://evil.example/">',
  '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=1">',
  '<p>ok</p><noscript><p title="</noscript><img src=x onerror=window.__xss=1>"></noscript>',
];

function mount(html: string): HTMLElement {
  const div = document.createElement('div');
  div.innerHTML = html;
  document.body.appendChild(div);
  return div;
}

function assertInert(root: HTMLElement) {
  expect(root.querySelectorAll('script, iframe, object, embed, form, style, link, meta, base, svg, math').length).toBe(0);
  for (const el of Array.from(root.querySelectorAll('*'))) {
    for (const a of Array.from(el.attributes)) {
      expect(a.name.startsWith('on'), `${el.tagName} has ${a.name}`).toBe(false);
      expect(a.name).not.toBe('style');
      expect(a.name).not.toBe('srcdoc');
      if (['href', 'src', 'action', 'formaction', 'data', 'xlink:href'].includes(a.name)) {
        expect(a.value.replace(/\s/g, '').toLowerCase()).not.toMatch(/^(javascript|data:text|vbscript):?/);
      }
    }
  }
}

describe('markdown sanitising', () => {
  for (const p of PAYLOADS) {
    it(`renders inert: ${p.slice(0, 60)}`, () => {
      (window as unknown as { __xss?: number }).__xss = undefined;
      const root = mount(renderMarkdown(p));
      assertInert(root);
      expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
      root.remove();
    });
  }

  // The second line of defence on its own: the same payloads as HTML.
  for (const p of PAYLOADS) {
    it(`sanitize() neutralises: ${p.slice(0, 60)}`, () => {
      (window as unknown as { __xss?: number }).__xss = undefined;
      const root = mount(sanitize(p));
      assertInert(root);
      expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
      root.remove();
    });
  }

  it('keeps ordinary markdown: emphasis, lists, tables, safe links (opened in a new tab)', () => {
    const html = renderMarkdown('**bold** _it_\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com/d)');
    const root = mount(html);
    expect(root.querySelector('strong')?.textContent).toBe('bold');
    expect(root.querySelectorAll('li').length).toBe(2);
    expect(root.querySelector('table td')?.textContent).toBe('1');
    const a = root.querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://example.com/d');
    expect(a.getAttribute('target')).toBe('_blank');
    expect(a.getAttribute('rel')).toContain('noopener');
    root.remove();
  });

  it('highlights fenced code with classes only, and escapes HTML inside code', () => {
    const root = mount(renderMarkdown('```python\ndef f(x):\n    return "<script>"\n```'));
    const code = root.querySelector('pre code')!;
    expect(code.className).toContain('language-python');
    expect(code.querySelector('.hljs-keyword')?.textContent).toBe('def');
    expect(code.textContent).toContain('<script>');
    expect(root.querySelector('script')).toBeNull();
    assertInert(root);
    root.remove();
  });

  it('shows raw HTML from the model as text instead of markup', () => {
    const root = mount(renderMarkdown('Use <div class="x" onclick="y()">box</div> here.\n\n<img src=x onerror=alert(1)>'));
    expect(root.querySelector('div, img')).toBeNull();
    expect(root.textContent).toContain('<div class="x" onclick="y()">box</div>');
    expect(root.textContent).toContain('<img src=x onerror=alert(1)>');
    root.remove();
  });

  it('sanitize() strips the same things from raw HTML', () => {
    const root = mount(sanitize('<b onclick="x()">b</b><script>1</script><a href="javascript:1">a</a>'));
    assertInert(root);
    expect(root.textContent).toBe('ba');
    root.remove();
  });

  it('an unfinished code fence while streaming still renders (as code)', () => {
    const root = mount(renderMarkdown('text\n```js\nconst a = 1;', false));
    expect(root.querySelector('pre code')?.textContent).toContain('const a = 1;');
    root.remove();
  });
});
