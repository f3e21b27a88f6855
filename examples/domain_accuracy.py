"""Label accuracy per domain of a trained domain-adaptation run (e.g. specs/dann.yaml).

Loads the run with `modelspec.training.checkpoints.load_run`, predicts the spec's test split, and
prints the accuracy of the label output separately on each domain (source = 0, target = 1)
and of the domain output.

Example:
    python examples/domain_accuracy.py examples/runs/dann
"""

import argparse
import json

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run directory written by `modelspec train`")
    parser.add_argument("--label", default="label", help="the label output's name")
    parser.add_argument("--domain", default="domain", help="the domain output's name")
    args = parser.parse_args()

    from modelspec.build.compiler import model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.training.checkpoints import load_run

    spec, models, _ = load_run(args.run)
    (model,) = models.values()
    inputs, outputs = model_io(model)
    bundle = build_datasets(spec, inputs, outputs)
    pred, labels, domains, dom_pred = [], [], [], []
    for batch in bundle.test:  # (inputs, targets) or (inputs, targets, sample weights)
        x, y = batch[0], batch[1]
        out = model(x, training=False)
        pred.append(np.asarray(out[args.label]).argmax(-1))
        dom_pred.append(np.asarray(out[args.domain]).reshape(-1) > 0.5)
        labels.append(y[args.label].numpy().reshape(-1))
        domains.append(y[args.domain].numpy().reshape(-1))
    pred, labels, domains, dom_pred = (np.concatenate(a) for a in (pred, labels, domains, dom_pred))
    right = pred == labels
    print(json.dumps({
        "test_examples": int(len(labels)),
        "test_examples_source_domain": int(np.sum(domains == 0)),
        "test_examples_target_domain": int(np.sum(domains == 1)),
        "label_accuracy_source_domain": float(right[domains == 0].mean()),
        "label_accuracy_target_domain": float(right[domains == 1].mean()),
        "domain_accuracy": float(np.mean(dom_pred == (domains > 0.5))),
    }, indent=2))


if __name__ == "__main__":
    main()
