#!/bin/bash
# One GPU session (see README.md here, "A GPU session"): train the GAN at 128 px from GAN_START
# (a 64 px weights file is grown, a 128 px one goes on), then its encoder from ENCODER_START,
# each until its end time (seconds since the start); what a later session needs comes back in
# $OUT. Run from the repository root, with the carry folder prepared as README.md says.
#   GAN_START=training/demo-gan-weights.pt ENCODER_START=server/facesmith_server/packs/demo/e4e.pt \
#       bash training/gpu_session.sh 290 530
set -u
T0=$(date +%s)
GAN_END=${1:-290}
ENC_END=${2:-530}
CARRY=${CARRY:-.carry}
GAN_START=${GAN_START:-training/demo-gan-weights.pt}
ENCODER_START=${ENCODER_START:-server/facesmith_server/packs/demo/e4e.pt}
BATCH=${BATCH:-256}
PRECISION=${PRECISION:-fp32}  # measured faster than bf16 at batch 256 (training/README.md)
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONPATH=$PWD/server:$PWD/plugin:$PWD/protos PYTHONUNBUFFERED=1
FS=(python3 -c "import sys; from facesmith_client.cli.main import main; sys.exit(main())")
minutes_until() { python3 -c "print(max(0.2, ($1 - ($(date +%s) - $T0)) / 60))"; }
nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null
DATA=/tmp/data
mkdir -p $DATA
python3 training/carry_data.py unpack "$CARRY/lfw.npz" $DATA/lfw.npz & P1=$!
python3 training/carry_data.py unpack "$CARRY/celeba.npz" $DATA/celeba.npz & P2=$!
wait $P1 $P2  # not a bare wait: it would wait for the tee above too
echo "data ready at $(($(date +%s) - T0)) s"
GAN=/tmp/gan
"${FS[@]}" train gan --data $DATA/lfw.npz --data $DATA/celeba.npz --size 128 --out $GAN \
  --batch "$BATCH" --precision "$PRECISION" --lr 0.0005 --iterations 10000000 \
  --warm-start "$GAN_START" --log-every 100 --sample-every 500 --checkpoint-every 500 \
  --max-minutes "$(minutes_until "$GAN_END")"
echo "gan done at $(($(date +%s) - T0)) s"
cp $GAN/weights.pt "$OUT/gan-weights.pt"
cp "$(ls $GAN/samples/*.png | tail -1)" "$OUT/gan-samples.png"
ENC=/tmp/enc
"${FS[@]}" train encoder --gan $GAN/checkpoint.pt --data $DATA/lfw.npz --data $DATA/celeba.npz \
  --out $ENC --iterations 10000000 --batch 32 --synthetic 16 --identity 0.5 \
  --face-api "$CARRY/face-api" --input-size 64 --warm-start "$ENCODER_START" \
  --log-every 100 --sample-every 1000 --checkpoint-every 1000 \
  --max-minutes "$(minutes_until "$ENC_END")"
echo "encoder done at $(($(date +%s) - T0)) s"
# The encoder alone, in fp16 as packs ship it (a returned file may have at most 16 MiB).
python3 -c "import sys; from pathlib import Path; from facesmith_train.pack.build import \
write_fp16_encoder as write; write(Path(sys.argv[1]), Path(sys.argv[2]))" "$ENC/e4e.pt" "$OUT/e4e.pt"
cp "$(ls $ENC/samples/*.png | tail -1)" "$OUT/enc-samples.png"
ls -la "$OUT"
