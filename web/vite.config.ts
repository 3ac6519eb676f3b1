/**
 * The front end's build: `npm run build:web` writes dist/web/, which `upscale serve` serves at `/`.
 * Development: run `upscale serve` (port 7860) and `npx vite --config web/vite.config.ts`; /api is proxied to it.
 */
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'web',
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:7860' },
  },
});
