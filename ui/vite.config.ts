import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [svelte(), svelteTesting()],
  // Relative asset paths: the Tauri shell serves the bundle from its own protocol.
  base: './',
  // The default questionnaire lives in the shared crate (one file for Rust and the dev backend).
  server: { fs: { allow: ['..'] }, port: 5173, strictPort: true },
  build: { outDir: 'dist', assetsInlineLimit: 0, chunkSizeWarningLimit: 400 },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.ts'],
  },
});
