#!/usr/bin/env bash
# Copy this checkout (tracked and untracked-not-ignored files) and its
# .gpu_wheels into DEST/wt (default: <repo>/.gpu_carry/wt), for a device
# that receives another checkout: carry DEST and run
#   cd .gpu_carry/wt && bash tools/gpu/run_gpu_checks.sh STAGE ...
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${1:-$REPO/.gpu_carry}"
rm -rf "$DEST/wt"; mkdir -p "$DEST/wt"
( cd "$REPO" && git ls-files -co --exclude-standard -z \
    | grep -zv '^\.gpu_carry/' | xargs -0 tar -cf - ) | tar -xf - -C "$DEST/wt"
cp -r "$REPO/.gpu_wheels" "$DEST/wt/.gpu_wheels"
du -sh "$DEST"
