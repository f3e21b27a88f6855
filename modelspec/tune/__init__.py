"""Hyperparameter search over a spec's `params` with KerasTuner (`modelspec tune`).

- `schema`  the `tune:` section's JSON Schema fragment and semantic checks (no TensorFlow)
- `config`  typed configuration (`TuneConfig`, `SearchParam`) read from a checked spec
- `space`   KerasTuner `HyperParameters` and oracles built from a `TuneConfig`
- `search`  the tuner: every trial is an ordinary modelspec training run
- `report`  leaderboard, `tune.json` and `best.yaml` (the winning values in `params`)
- `cli`     the `modelspec tune` command, with `--workers N` (KerasTuner's chief/workers)
"""
