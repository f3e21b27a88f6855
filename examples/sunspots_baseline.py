"""Scores a trained sunspot forecaster against the naive "next month = this month" forecast.

Loads the run with `modelspec.training.checkpoints.load_run`, builds the spec's own test split with
`modelspec.data.pipeline.build_datasets` (the same windows `modelspec evaluate` uses) and
prints MAE and RMSE in sunspot numbers for the model and for the naive last-value forecast.

Example:
    python examples/sunspots_baseline.py examples/runs/sunspots_lstm
"""

import argparse
import json

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory written by `modelspec train`")
    parser.add_argument("--scale", type=float, default=100.0,
                        help="multiply values by this to get sunspot numbers "
                             "(the spec scales by 1/100)")
    args = parser.parse_args()

    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.training.checkpoints import load_run

    spec, models, _ = load_run(args.run)
    (model,) = models.values()
    inputs, outputs = model_io(model)
    bundle = build_datasets(spec, inputs, outputs)
    (in_name,) = inputs
    (out_name,) = outputs
    truth, naive, predicted = [], [], []
    for x, y in bundle.test:
        window = x[in_name].numpy()
        truth.append(y[out_name].numpy().reshape(-1))
        naive.append(window[:, -1, 0])
        predicted.append(np.asarray(model(x, training=False)[out_name]).reshape(-1))
    truth, naive, predicted = (np.concatenate(a) * args.scale for a in (truth, naive, predicted))

    def scores(forecast):
        err = forecast - truth
        return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2)))}

    report = {"test_windows": int(truth.size), "model": scores(predicted),
              "naive_last_value": scores(naive)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
