#!/usr/bin/env bash
# Reproduces the examples of examples/README.md: train → evaluate → export for each spec,
# with the wall time of each step in logs/<name>.*.log. Run from anywhere:
#   examples/run_all.sh              # every example, one after the other
#   examples/run_all.sh lenet5 gan   # only these
# Outputs: examples/runs/<name>/ (run directories), examples/exported/<name>/ (SavedModels),
# examples/logs/ (command output), examples/figures/ (PNGs copied from the runs).
# An existing runs/<name> continues (a finished run is not retrained); after a spec change
# `modelspec train` refuses it (exit 4): delete runs/<name> to train afresh.
set -u
cd "$(dirname "$0")"
MS=${MODELSPEC:-/work/venv/bin/modelspec}
PY=${PYTHON:-/work/venv/bin/python}
mkdir -p runs exported logs figures
# The specs name their data sets by public origin; here they are read from local copies made
# from ../shared/data (stand-ins for MNIST and CIFAR-10: their test sets split 8,000 / 2,000,
# see tools/prepare_local_data.py) unless MODELSPEC_DATA_DIR names another folder.
if [ -z "${MODELSPEC_DATA_DIR:-}" ]; then
  export MODELSPEC_DATA_DIR=$PWD/local_data
  [ -d local_data/mnist ] || "$PY" ../tools/prepare_local_data.py ../../shared/data local_data
fi

# step NAME KIND CMD...: runs CMD, appends its wall time to logs/NAME.KIND.log
step() {
  local name=$1 kind=$2; shift 2
  local log="logs/$name.$kind.log" t0 t1 rc
  echo "\$ $*" > "$log"
  t0=$(date +%s.%N)
  "$@" >> "$log" 2>&1; rc=$?
  t1=$(date +%s.%N)
  printf 'exit %d, wall %.1f s\n' "$rc" "$(echo "$t1 - $t0" | bc)" | tee -a "$log"
  return $rc
}

# example NAME SPEC: train, evaluate (JSON), export
example() {
  local name=$1 spec=$2
  echo "== $name ($spec)"
  step "$name" train "$MS" train "$spec" --output "runs/$name" -q || return
  step "$name" evaluate "$MS" evaluate "runs/$name" --json
  step "$name" export "$MS" export "runs/$name" --output "exported/$name"
}

run_lenet5()      { example lenet5 ../specs/lenet5.yaml; }
run_cifar10_cnn() { example cifar10_cnn cifar10_cnn.yaml; }
run_sunspots_lstm() {
  example sunspots_lstm sunspots_lstm.yaml
  step sunspots_lstm baseline "$PY" sunspots_baseline.py runs/sunspots_lstm
}
run_wide_and_deep() { example wide_and_deep ../specs/wide_and_deep.yaml; }
run_word2vec() {   # the skip-gram spec as shipped, then neighbours and analogies (D = expected)
  example word2vec ../specs/word2vec_skipgram.yaml
  step word2vec query "$PY" word2vec_query.py runs/word2vec -k 5 \
    --words socrates justice soul city war good \
    --analogy man woman he she --analogy he she his her --analogy man woman his her \
    --analogy men women man woman --analogy father mother son daughter \
    --analogy son daughter father mother --analogy brother sister son daughter \
    --analogy just unjust good evil --analogy good better bad worse \
    --analogy great greater good better --analogy man woman king queen
  run_word2vec_cbow
}
run_word2vec_cbow() {   # CBOW: the word vectors are the input (context) table
  example word2vec_cbow ../specs/word2vec_cbow.yaml
  step word2vec_cbow query "$PY" word2vec_query.py runs/word2vec_cbow --layer context_vectors \
    -k 5 --words socrates justice soul city \
    --analogy man woman he she --analogy he she his her --analogy man woman his her \
    --analogy men women man woman --analogy father mother son daughter \
    --analogy son daughter father mother --analogy brother sister son daughter \
    --analogy just unjust good evil --analogy good better bad worse \
    --analogy great greater good better
}

run_gan() {   # two models: `modelspec evaluate` needs a single supervised model, so no evaluate
  echo "== gan (../specs/gan.yaml)"
  step gan train "$MS" train ../specs/gan.yaml --output runs/gan -q || return
  step gan export "$MS" export runs/gan --output exported/gan
  cp "$(ls runs/gan/samples/*.png | sort | tail -n 1)" figures/gan_samples.png
}
run_stacked_autoencoder() {
  example stacked_autoencoder ../specs/stacked_autoencoder.yaml
  example stacked_autoencoder_nopretrain stacked_autoencoder_nopretrain.yaml
}
run_multitask() { example multitask ../specs/multitask.yaml; }
run_deep_1_vs_5() { example deep_1_vs_5 ../specs/deep_1_vs_5.yaml; }
run_conditional_gan() {   # pix2pix (no noise input; dropout is its noise), then L1 alone
  echo "== conditional_gan (../specs/conditional_gan.yaml)"
  step conditional_gan train "$MS" train ../specs/conditional_gan.yaml \
    --output runs/conditional_gan -q || return
  step conditional_gan export "$MS" export runs/conditional_gan --output exported/conditional_gan
  step conditional_gan scores "$PY" pix2pix_eval.py runs/conditional_gan \
    --out figures/conditional_gan_samples.png
  example pix2pix_l1_only pix2pix_l1_only.yaml
  step pix2pix_l1_only scores "$PY" pix2pix_eval.py runs/pix2pix_l1_only \
    --out figures/pix2pix_l1_only_samples.png
}
run_dann() {   # seed 0 as shipped, then seeds 1 and 2 (-p seed=N: data, split and weights)
  example dann ../specs/dann.yaml
  step dann domains "$PY" domain_accuracy.py runs/dann
  example dann_no_reversal dann_no_reversal.yaml
  step dann_no_reversal domains "$PY" domain_accuracy.py runs/dann_no_reversal
  local s spec name
  for s in 1 2; do
    for spec in ../specs/dann.yaml dann_no_reversal.yaml; do
      name=$(basename "$spec" .yaml)_s$s
      step "$name" train "$MS" train "$spec" -p "seed=$s" --output "runs/$name" -q &&
        step "$name" domains "$PY" domain_accuracy.py "runs/$name"
    done
  done
}
run_perceptron() {
  example perceptron ../specs/perceptron.yaml
  step perceptron predict "$MS" predict runs/perceptron --input credit_all8.json
}
run_mlp_surface() {   # the same spec with 2, 3 and 4 hidden units
  for h in 2 3 4; do
    echo "== mlp_surface_$h (../specs/mlp_surface.yaml -p hidden=$h)"
    step "mlp_surface_$h" train "$MS" train ../specs/mlp_surface.yaml -p "hidden=$h" \
      --output "runs/mlp_surface_$h" -q || continue
    step "mlp_surface_$h" evaluate "$MS" evaluate "runs/mlp_surface_$h" --json
    step "mlp_surface_$h" export "$MS" export "runs/mlp_surface_$h" --output "exported/mlp_surface_$h"
  done
}
run_denoising_autoencoder() {
  example denoising_autoencoder ../specs/denoising_autoencoder.yaml
  step denoising_autoencoder grid "$PY" denoise_grid.py runs/denoising_autoencoder \
    --out figures/denoising_autoencoder.png
}
run_transfer() {   # needs runs/lenet5
  example digits_scratch digits_scratch.yaml
  example digits_transfer digits_transfer.yaml
}
run_net2net() {
  example net2net ../specs/net2net.yaml
  step net2net_wider check "$PY" net2net_check.py net2net_wider.yaml
  example net2net_wider net2net_wider.yaml
}
run_tune() {   # KerasTuner searches of two shipped specs, then the best MLP trained in full
  step mlp_tune tune "$MS" tune ../specs/mlp_classifier.yaml --output runs/mlp-tune
  step lenet5_tune tune "$MS" tune ../specs/lenet5.yaml --output runs/lenet5-tune
  step mlp_default train "$MS" train ../specs/mlp_classifier.yaml --output runs/mlp-default -q
  step mlp_best train "$MS" train runs/mlp-tune/best.yaml --output runs/mlp-best -q
  step mlp_best compare "$MS" compare runs/mlp-default runs/mlp-best \
    --plot figures/compare_mlp_classifier.png
  cp runs/mlp-best/confusion.png figures/confusion_mlp_classifier.png
  step lenet5_best train "$MS" train runs/lenet5-tune/best.yaml --output runs/lenet5-best -q
  step lenet5_best compare "$MS" compare runs/lenet5 runs/lenet5-best \
    --plot figures/compare_lenet5.png
}
run_pictures() {   # model diagrams (Graphviz) and a regression run's predicted-vs-true plot
  for spec in lenet5 gan unet; do
    step "diagram_$spec" show "$MS" show "../specs/$spec.yaml" --diagram "figures/diagram_$spec.png"
  done
  step diagram_resnet34 show "$MS" show ../specs/resnet34.yaml --collapse \
    --diagram figures/diagram_resnet34_collapsed.png
  step mlp_surface_4_40 train "$MS" train ../specs/mlp_surface.yaml -p hidden=4 --epochs 40 \
    --output runs/mlp_surface_4_40 -q
  cp runs/mlp_surface_4_40/predicted_vs_true.png figures/predicted_vs_true_mlp_surface.png
}

ALL="lenet5 cifar10_cnn sunspots_lstm wide_and_deep word2vec gan stacked_autoencoder multitask dann
     deep_1_vs_5 conditional_gan perceptron mlp_surface denoising_autoencoder transfer net2net
     tune pictures"
for name in ${@:-$ALL}; do
  "run_$name"
done
