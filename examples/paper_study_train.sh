#!/usr/bin/env bash
# Train the paper study's models (issue: six architectures x 3 seeds on dSprites, >= 10,000 steps),
# one `causalvae train` at a time. Every call resumes its folder from the last checkpoint, so the
# script can be killed and relaunched at any time; finished models are skipped.
#
#   STUDY=/path/to/study STEPS=10000 taskset -c 1 nice -n 19 bash examples/paper_study_train.sh
#
# Pin it to one core when the machine does other torch work: niced but unpinned, its threads stall the
# OpenMP barriers of a foreground torch job (a default `causalvae run` took 15 min 16 s beside it on 2
# cores, 2 min 02 s with it paused).
#
# Two cores, two lanes: give each its own cells (a cell folder takes one writer; a second is refused), e.g.
#
#   CELLS="factor-vae:0 vq-vae:0 factor-vae:1" taskset -c 1 nice -n 19 bash examples/paper_study_train.sh &
#   CELLS="dip-vae-ii:0 beta-tc-vae:1 dip-vae-ii:1" taskset -c 0 nice -n 19 bash examples/paper_study_train.sh &
#
# Analyse the checkpoints afterwards with examples/paper_study_analyse.py.
set -euo pipefail
cd "$(dirname "$0")/.."
STUDY=${STUDY:-runs/study}
STEPS=${STEPS:-10000}
VARIANTS=${VARIANTS:-"vae beta-vae beta-tc-vae factor-vae dip-vae-ii vq-vae"}
SEEDS=${SEEDS:-"0 1 2"}
BIN=${BIN:-.venv/bin}
if [ -z "${CELLS:-}" ]; then  # default order: seed 0 of every variant, then seed 1, then seed 2
  CELLS=$(for seed in $SEEDS; do for variant in $VARIANTS; do printf '%s:%s ' "$variant" "$seed"; done; done)
fi
for cell in $CELLS; do
  variant=${cell%:*} seed=${cell#*:}
  out="$STUDY/dsprites/${variant}_seed${seed}"
  if [ -f "$out/done" ]; then continue; fi
  echo "$(date -Is) training $variant seed $seed -> $out"
  "$BIN/causalvae" train --dataset dsprites --variant "$variant" --latent-dim 10 --steps "$STEPS" \
    --batch-size 64 --lr 5e-4 --seed "$seed" --out "$out" --checkpoint-every 500 --no-progress
  touch "$out/done"
done
