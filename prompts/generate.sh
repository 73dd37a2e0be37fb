#!/usr/bin/env bash
# Regenerates every Italian prompt listed in prompts/it/manifest.tsv (id<TAB>text)
# as prompts/it/<id>.wav: 8 kHz, mono, signed 16-bit PCM WAV. An id may contain '/'
# (e.g. num/21 from the say_it fragments): the subfolder is created as needed.
#
# Pipeline: espeak-ng (voice "it", fixed speed/pitch/amplitude) -> sox: resample to
# 8 kHz, band-limit to the telephone band, trim leading/trailing silence, normalise.
# Deterministic: fixed voice parameters, sox dither disabled (-D) and repeatable RNG (-R),
# so re-running on the same espeak-ng/sox versions reproduces identical files.
#
# Usage: prompts/generate.sh            (from anywhere)
# Needs: espeak-ng, sox  (apt-get install espeak-ng sox)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifest="$here/it/manifest.tsv"
out_dir="$here/it"

for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "generate.sh: $tool not found (apt-get install espeak-ng sox)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# espeak-ng voice parameters: words per minute, pitch, amplitude, word gap (10 ms units).
ESPEAK_FLAGS=(-v it -s 150 -p 45 -a 120 -g 2)

count=0
while IFS=$'\t' read -r id text || [ -n "$id" ]; do
  case "$id" in ''|'#'*) continue ;; esac
  if [ -z "${text:-}" ]; then
    echo "generate.sh: manifest line for '$id' has no text" >&2
    exit 1
  fi
  case "$id" in /*|*..*) echo "generate.sh: bad prompt id '$id'" >&2; exit 1 ;; esac
  raw="$tmp/${id//\//_}.raw.wav"
  mkdir -p "$(dirname "$out_dir/$id.wav")"
  espeak-ng "${ESPEAK_FLAGS[@]}" -w "$raw" -- "$text"
  # silence 1 0.01 0.3%: drop leading audio below 0.3% until 10 ms above it;
  # reverse / repeat / reverse trims the tail the same way. A 20 ms pad keeps the
  # onset from being clipped by the first RTP frame.
  sox -D -R -V1 "$raw" -r 8000 -c 1 -b 16 -e signed-integer "$out_dir/$id.wav" \
    highpass 200 lowpass 3400 \
    silence 1 0.01 0.3% reverse silence 1 0.01 0.3% reverse \
    gain -n -3 pad 0.02 0.02 rate -v 8000
  count=$((count + 1))
done < "$manifest"

echo "generate.sh: wrote $count prompts to $out_dir"
