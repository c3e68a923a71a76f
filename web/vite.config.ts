import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Everything is bundled into dist/ (no CDN, no external fonts: the console works air-gapped).
// `npm run dev` proxies /api to a running gateway (listeners.api of examples/dev.yaml).
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, assetsInlineLimit: 0, sourcemap: false, chunkSizeWarningLimit: 2048 },
  server: { proxy: { '/api': 'http://127.0.0.1:18480' } },
});
