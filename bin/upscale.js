#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`upscale: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
