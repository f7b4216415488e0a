#!/usr/bin/env bash
# Builds the seed corpus of the parse_check fuzz target from the repo's own
# specs: every example spec, every invalid-spec corpus file, the interop
# specs, and the small hand-written seeds in fuzz/seeds/. Files are named by
# their content hash, as libFuzzer names its own, so re-running is harmless.
# Usage: fuzz/seed-corpus.sh [corpus-dir]   (default fuzz/corpus/parse_check)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/fuzz/corpus/parse_check}"
mkdir -p "$out"
count=0
while IFS= read -r -d '' f; do
  sum="$(sha1sum "$f" | cut -d' ' -f1)"
  cp "$f" "$out/$sum"
  count=$((count + 1))
done < <(find "$root/specs" "$root/tests/corpus/invalid" "$root/tests/interop" \
              "$root/fuzz/seeds" "$root/fuzz/regressions" \
              -name node_modules -prune -o -type f -name '*.oauthspec' -print0 2>/dev/null)
echo "seeded $count files into $out"
