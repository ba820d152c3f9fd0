#!/usr/bin/env bash
# The first CUDA run, in one go (issue 17): run from the repository root on a machine with an
# NVIDIA GPU. What it needs and the GPU machine lacks travels in two ignored folders:
#   .whl/  the PyAV wheel for the machine's Python (pip download av, see docs of the device tool)
#   .gpu/  a source clip (source.webm) the 540p and 1080p benchmark clips are made from, and
#          commit.txt (`git log -1 --format='commit %H %cd'`: .git does not travel)
# Results go to $OUT (default /tmp/gpu-check) as they are made, in three files (machine.txt,
# steps.txt: each step's command, exit status and seconds; log.txt: every step's output), so a run
# cut short still leaves what it finished. Each step has its own time limit; a failing step does
# not stop the rest.
#   OUT=/tmp/x bash scripts/gpu_check.sh [quick]     # quick: 8 frames (a CPU rehearsal)
# Variables choose a part: STEPS (default: "model_fps cuda_tests bench multi profile suite"),
# MODELS (model_fps cases, NAME:SCALE,...), BENCH ("MODEL:SCALE:CLIP ..."), BENCH_ARGS, FRAMES.
set -u
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
FRAMES=${FRAMES:-96}
[ "${1:-}" = quick ] && FRAMES=8
STEPS=${STEPS:-model_fps cuda_tests bench multi profile suite}
MODELS=${MODELS:-}
BENCH=${BENCH:-espcn:4:clip540 residual:4:clip540 espcn:2:clip1080 residual:2:clip1080}
BENCH_ARGS=${BENCH_ARGS:-}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
if ! python3 -c "import av" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
wanted() { [[ " $STEPS " == *" $1 "* ]]; }
step() {  # step NAME SECONDS COMMAND...: run with a time limit; output to log.txt and the console
    local name=$1 limit=$2; shift 2
    echo "== $name ($(date +%T)): $*" | tee -a "$OUT/steps.txt" >>"$OUT/log.txt"
    local started=$SECONDS
    timeout "$limit" "$@" >"$WORK/step.txt" 2>&1
    local rc=$?
    cat "$WORK/step.txt" >>"$OUT/log.txt"
    echo "   rc=$rc, $((SECONDS - started)) s" | tee -a "$OUT/steps.txt"
    tail -n 30 "$WORK/step.txt"
}

{
    cat .gpu/commit.txt 2>/dev/null || git log -1 --format='commit %H %cd' 2>/dev/null || true
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
    python3 -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'available', torch.cuda.is_available()); print('av', av.__version__, 'ffmpeg', av.library_versions['libavcodec'])"
    nproc
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

step clips 120 python3 scripts/bench_clips.py .gpu/source.webm "$WORK" --frames $((FRAMES + 24))
wanted model_fps && step model_fps 120 python3 scripts/gpu_model_fps.py --iters $([ "$FRAMES" -gt 8 ] && echo 30 || echo 2) --only "$MODELS"
wanted cuda_tests && step cuda_tests 240 python3 -m pytest -p no:cacheprovider -q -m cuda -rs tests/test_cuda.py tests/test_engine.py tests/test_train.py
if wanted bench; then
    for case in $BENCH; do
        IFS=: read -r model scale clip <<<"$case"
        step "bench_${model}_x${scale}_$clip" 150 python3 -m vsr bench "$WORK/$clip.mp4" -s "$scale" -m "$model" --frames "$FRAMES" $BENCH_ARGS
    done
fi
MULTI='import sys, vsr
r = vsr.upscale_video(sys.argv[1], sys.argv[2], scale=4, mode="multi", model=sys.argv[3] or None, max_frames=int(sys.argv[4]), overwrite=True)
print(f"{r.model} {r.device} {r.precision} {r.width}x{r.height}: {r.frames} frames in {r.seconds:.1f} s = {r.fps:.2f} fps (setup included)")'
if wanted multi; then
    for model in multiframe_refine ""; do
        step "multi_${model:-classical}" 150 python3 -c "$MULTI" "$WORK/clip540.mp4" "$WORK/multi_${model:-classical}.mp4" "$model" "$FRAMES"
    done
fi
# where multi-frame time goes, thread by thread (a stack sampler: cProfile sees one thread at most)
wanted profile && step profile_multi 150 python3 scripts/sample_threads.py --top 10 -c "$MULTI" \
    "$WORK/clip540.mp4" "$WORK/profile.mp4" multiframe_refine $((FRAMES < 24 ? FRAMES : 24))
wanted suite && step whole_suite 200 python3 -m pytest -p no:cacheprovider -q --maxfail=10 --continue-on-collection-errors --ignore=tests/test_ray.py -k "not experiment and not vmaf and not bdrate" tests
echo "== done ($(date +%T))" | tee -a "$OUT/steps.txt"
