#!/usr/bin/env bash
# Regenerates the synthesised audio: the music on hold, a short plucked melody (sox synth,
# 8 kHz mono PCM16)
# cut into 1-second pieces prompts/it/attesa/musica-NN.wav, so that a caller's music can
# resume where an announcement interrupted it (to within a second); and the tone before a
# recorded question (it/sistema/segnale).
#
# Usage: prompts/generate-music.sh      Needs: sox (apt-get install sox)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$here/it/attesa"
command -v sox >/dev/null || { echo "generate-music.sh: sox not found (apt-get install sox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Two bars of arpeggios (Hz), each note 0.6 s; played twice: 19.2 s in all.
notes=(523.25 659.25 783.99 659.25 587.33 698.46 880.00 698.46
       523.25 659.25 783.99 1046.50 493.88 587.33 783.99 587.33)
i=0
for f in "${notes[@]}"; do
  i=$((i + 1))
  sox -D -R -n -r 8000 -c 1 -b 16 "$(printf '%s/n%02d.wav' "$tmp" "$i")" \
    synth 0.6 pluck "$f" fade 0 0.6 0.2 vol 0.35
done
sox -D -R "$tmp"/n*.wav "$tmp/bar.wav"
sox -D -R "$tmp/bar.wav" "$tmp/bar.wav" "$tmp/melody.wav"
mkdir -p "$out"
rm -f "$out"/musica-*.wav
sox -D -R "$tmp/melody.wav" "$out/musica-.wav" trim 0 1 : newfile : restart
# sox numbers the pieces musica-001.wav …; keep two digits.
for f in "$out"/musica-*.wav; do
  n=$(basename "$f" .wav | sed 's/musica-0*//')
  mv "$f" "$(printf '%s/musica-%02d.wav' "$out" "$n")" 2>/dev/null || true
done
echo "generate-music.sh: wrote $(ls "$out"/musica-*.wav | wc -l) pieces to $out"

# The tone before a caller records a ticket's question: 1 kHz, 0.4 s, soft edges.
mkdir -p "$here/it/sistema"
sox -D -R -n -r 8000 -c 1 -b 16 "$here/it/sistema/segnale.wav" synth 0.4 sine 1000 fade 0.02 0.4 0.05 vol 0.5
echo "generate-music.sh: wrote the recording tone it/sistema/segnale.wav"
