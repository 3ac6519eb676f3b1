/**
 * Draws assets/sample.png, the bundled demo image: synthetic (so it carries no one's copyright), small, and full of
 * what enlargement gets wrong: text, thin lines, hard and soft edges, stripes, and gradients.
 * Run: node --import tsx scripts/make-sample.ts
 */
import sharp from 'sharp';

const width = 192;
const height = 128;
const rays = Array.from({ length: 24 }, (_, i) => {
  const a = (i * Math.PI) / 24;
  return `<line x1="150" y1="40" x2="${150 + 34 * Math.cos(a)}" y2="${40 - 34 * Math.sin(a)}" stroke="#222" stroke-width="0.8"/>`;
}).join('');
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#5b8fd6"/><stop offset="1" stop-color="#f3d9a4"/></linearGradient>
    <radialGradient id="sun"><stop offset="0" stop-color="#fff6c0"/><stop offset="1" stop-color="#f0a020"/></radialGradient>
  </defs>
  <rect width="${width}" height="${height}" fill="url(#sky)"/>
  <circle cx="40" cy="36" r="20" fill="url(#sun)"/>
  <path d="M0 96 L40 70 L70 88 L110 60 L150 92 L192 74 L192 128 L0 128 Z" fill="#3d6b3a"/>
  ${Array.from({ length: 12 }, (_, i) => `<rect x="${8 + i * 6}" y="100" width="3" height="20" fill="#e8e2d0"/>`).join('')}
  ${rays}
  <text x="96" y="116" font-family="DejaVu Sans, sans-serif" font-size="11" fill="#111">upscale 4x</text>
  <text x="98" y="86" font-family="DejaVu Serif, serif" font-size="7" fill="#fff">small text, thin lines</text>
</svg>`;

await sharp(Buffer.from(svg)).removeAlpha().png({ compressionLevel: 9 }).toFile(new URL('../assets/sample.png', import.meta.url).pathname);
