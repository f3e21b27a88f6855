"""Checks that a Net2Net student computes the teacher's function before any training.

Builds the student spec's models with `modelspec.build.compiler.build_from_spec`, initialises them
from the teacher run exactly as training would (`modelspec.training.warmstart.warm_start`
with the spec's `train.init_from`), and compares the student's and the teacher's outputs on
the spec's test split (largest absolute difference, agreement of the predicted classes, and
the accuracy of both).

Example:
    python examples/net2net_check.py examples/net2net_wider.yaml
"""

import argparse
import json

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec",
                        help="a student spec with train.init_from: {run: ..., grow: net2net}")
    args = parser.parse_args()

    from modelspec import load_spec
    from modelspec.build.compiler import build_from_spec, model_io
    from modelspec.data.pipeline import build_datasets
    from modelspec.training.checkpoints import load_run
    from modelspec.training.config import TrainConfig
    from modelspec.training.warmstart import warm_start

    spec = load_spec(args.spec)
    train = spec.section("train")
    student = build_from_spec(spec)
    models = student if isinstance(student, dict) else {"model": student}
    config = TrainConfig.from_section(train)
    assert config.init_from is not None, "the spec has no train.init_from"
    report = warm_start(models, config.init_from, spec.base_dir, seed=config.seed)
    (student,) = models.values()
    teacher_run = spec.base_dir / train["init_from"]["run"]
    _, teachers, _ = load_run(teacher_run)
    (teacher,) = teachers.values()

    inputs, outputs = model_io(student)
    (out_name,) = outputs
    bundle = build_datasets(spec, inputs, outputs)
    s_out, t_out, labels = [], [], []
    for x, y in bundle.test:
        s_out.append(np.asarray(student(x, training=False)[out_name]))
        t_out.append(np.asarray(teacher(x, training=False)[out_name]))
        labels.append(y[out_name].numpy().reshape(-1))
    s_out, t_out, labels = (np.concatenate(a) for a in (s_out, t_out, labels))
    print(json.dumps({
        "warm_start": report,
        "teacher_parameters": int(teacher.count_params()),
        "student_parameters": int(student.count_params()),
        "test_examples": int(len(labels)),
        "max_abs_output_difference": float(np.max(np.abs(s_out - t_out))),
        "same_predicted_class": float(np.mean(s_out.argmax(1) == t_out.argmax(1))),
        "teacher_test_accuracy": float(np.mean(t_out.argmax(1) == labels)),
        "student_test_accuracy_before_training": float(np.mean(s_out.argmax(1) == labels)),
    }, indent=2))


if __name__ == "__main__":
    main()
