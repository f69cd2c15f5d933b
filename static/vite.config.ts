/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite';

// The app's page is app.html; static/index.html is a plain placeholder that
// nginx serves while the UI is not built. The build writes the app's page as
// dist/index.html, and the dev server answers page URLs with the app.
function appPage(): Plugin {
  return {
    name: 'claude-web-app-page',
    enforce: 'post',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        const r = req as unknown as { url?: string; method?: string }; // (no @types/node here)
        const path = (r.url || '/').split('?')[0];
        if (r.method === 'GET' && (path === '/' || path === '/index.html' || path.startsWith('/sessions/'))) {
          r.url = '/app.html';
        }
        next();
      });
    },
    generateBundle(_opts, bundle) {
      const page = bundle['app.html'];
      if (!page || page.type !== 'asset') return;
      delete bundle['app.html'];
      this.emitFile({ type: 'asset', fileName: 'index.html', source: page.source });
    },
  };
}

// The UI is served by nginx under a strict CSP (script-src 'self';
// style-src 'self'): the build must produce only external .js/.css files,
// never inline <script> or <style>, and no runtime style injection.
export default defineConfig({
  root: '.',
  base: '/',
  plugins: [appPage()],
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    cssCodeSplit: false,
    // The polyfill would be an extra inline-free chunk anyway, but every
    // browser we support has modulepreload; keep the output minimal.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: true,
    rollupOptions: { input: 'app.html' },
  },
  server: {
    // `npm run dev`: the API of a running stack (scripts/start.sh).
    proxy: {
      '/api': { target: 'https://localhost:8443', secure: false, changeOrigin: false },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    setupFiles: ['test/setup.ts'],
  },
});
