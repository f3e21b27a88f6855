"""Names and arguments of the Keras training components a `train:` section may use.

A static table (Keras 3.15) so that the schema and the semantic checks of `train:` work without
importing TensorFlow. When the project-wide catalogue (`modelspec.catalog`) is available, its
answers take precedence; this table is the fallback and lists only what training needs.
"""

from __future__ import annotations

import re

_COMMON_OPT = ["learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
               "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
               "gradient_accumulation_steps"]

OPTIMIZERS: dict[str, list[str]] = {
    "SGD": ["momentum", "nesterov"],
    "RMSprop": ["rho", "momentum", "epsilon", "centered"],
    "Adam": ["beta_1", "beta_2", "epsilon", "amsgrad"],
    "AdamW": ["beta_1", "beta_2", "epsilon", "amsgrad"],
    "Adadelta": ["rho", "epsilon"],
    "Adagrad": ["initial_accumulator_value", "epsilon"],
    "Adamax": ["beta_1", "beta_2", "epsilon"],
    "Adafactor": ["beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step"],
    "Nadam": ["beta_1", "beta_2", "epsilon"],
    "Ftrl": ["learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
             "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta"],
    "Lion": ["beta_1", "beta_2"],
    "Lamb": ["beta_1", "beta_2", "epsilon"],
}
OPTIMIZERS = {name: _COMMON_OPT + extra for name, extra in OPTIMIZERS.items()}

SCHEDULES: dict[str, list[str]] = {
    "CosineDecay": ["initial_learning_rate", "decay_steps", "alpha", "warmup_target",
                    "warmup_steps"],
    "CosineDecayRestarts": ["initial_learning_rate", "first_decay_steps", "t_mul", "m_mul",
                            "alpha"],
    "ExponentialDecay": ["initial_learning_rate", "decay_steps", "decay_rate", "staircase"],
    "InverseTimeDecay": ["initial_learning_rate", "decay_steps", "decay_rate", "staircase"],
    "PiecewiseConstantDecay": ["boundaries", "values"],
    "PolynomialDecay": ["initial_learning_rate", "decay_steps", "end_learning_rate", "power",
                        "cycle"],
}

LOSSES = ["BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy",
          "CategoricalFocalCrossentropy", "CategoricalGeneralizedCrossEntropy",
          "CategoricalHinge", "Circle", "CosineSimilarity", "Dice", "Hinge", "Huber",
          "KLDivergence", "LogCosh", "MeanAbsoluteError", "MeanAbsolutePercentageError",
          "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
          "SparseCategoricalCrossentropy", "SquaredHinge", "Tversky"]

METRICS = ["AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU",
           "CategoricalAccuracy", "CategoricalCrossentropy", "CategoricalHinge",
           "ConcordanceCorrelation", "CosineSimilarity", "F1Score", "FBetaScore",
           "FalseNegatives", "FalsePositives", "Hinge", "IoU", "KLDivergence", "LogCoshError",
           "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanIoU", "MeanSquaredError",
           "MeanSquaredLogarithmicError", "OneHotIoU", "OneHotMeanIoU", "PearsonCorrelation",
           "Poisson", "Precision", "PrecisionAtRecall", "R2Score", "Recall",
           "RecallAtPrecision", "RootMeanSquaredError", "SensitivityAtSpecificity",
           "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
           "SparseTopKCategoricalAccuracy", "SpecificityAtSensitivity", "SquaredHinge",
           "TopKCategoricalAccuracy", "TrueNegatives", "TruePositives"]

# Arguments of loss and metric classes (union; the Keras constructor checks the rest).
LOSS_METRIC_ARGS = ["alpha", "apply_class_balancing", "average", "axis", "beta",
                    "class_aggregation", "class_id", "curve", "delta", "dtype", "from_logits",
                    "gamma", "ignore_class", "k", "label_smoothing", "label_weights", "margin",
                    "multi_label", "name", "num_classes", "num_labels", "num_regressors",
                    "num_thresholds", "precision", "q", "recall", "reduction",
                    "remove_diagonal", "sensitivity", "sparse_y_pred", "sparse_y_true",
                    "specificity", "summation_method", "target_class_ids", "threshold",
                    "thresholds", "top_k"]

# Short names Keras accepts as strings besides the snake_case of the class names.
LOSS_ALIASES = ["mse", "mae", "mape", "msle", "kld", "kl_divergence", "logcosh", "huber_loss"]
METRIC_ALIASES = ["accuracy", "acc", "mse", "mae", "mape", "msle", "crossentropy", "ce"]


def snake(name: str) -> str:
    """Converts a Keras class name to its function-style name (`MeanSquaredError` →
    `mean_squared_error`)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    out = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", out)
    return out.lower()


def _catalog_names(kind: str):
    try:
        from modelspec import catalog  # the project-wide catalogue, when present
        return list(catalog.names(kind))
    except Exception:
        return None


def optimizer_names() -> list[str]:
    """Names of the Keras optimizers (classes)."""
    return _catalog_names("optimizers") or sorted(OPTIMIZERS)


def optimizer_args(name: str) -> list[str]:
    """Arguments of a Keras optimizer, [] when unknown."""
    try:
        from modelspec import catalog
        return [a for a in catalog.arguments("optimizers", name) if a != "name"]
    except Exception:
        return OPTIMIZERS.get(name, [])


def schedule_args(name: str) -> list[str]:
    """Arguments of a Keras learning-rate schedule, [] when unknown."""
    try:
        from modelspec import catalog
        return [a for a in catalog.arguments("schedules", name) if a != "name"]
    except Exception:
        return SCHEDULES.get(name, [])


def _catalog_strings(kind: str) -> list[str]:
    try:
        from modelspec import catalog
        return list(catalog.string_names(kind))
    except Exception:
        return []


def schedule_names() -> list[str]:
    """Names of the Keras learning-rate schedules."""
    return _catalog_names("schedules") or sorted(SCHEDULES)


def loss_names() -> list[str]:
    """Names a `loss:` may use: class names, their snake_case and Keras's short aliases."""
    base = _catalog_names("losses") or LOSSES
    return sorted(set(base) | {snake(n) for n in base} | set(LOSS_ALIASES)
                  | set(_catalog_strings("losses")))


def metric_names() -> list[str]:
    """Names a `metrics:` entry may use: class names, snake_case and Keras's aliases."""
    base = _catalog_names("metrics") or METRICS
    return sorted(set(base) | {snake(n) for n in base} | set(METRIC_ALIASES)
                  | set(_catalog_strings("metrics")))


def all_optimizer_args() -> list[str]:
    """The union of the arguments of every optimizer (for the schema)."""
    names = optimizer_names()
    return sorted({a for n in names for a in optimizer_args(n)} | set(_COMMON_OPT))


def all_schedule_args() -> list[str]:
    """The union of the arguments of every schedule (for the schema)."""
    return sorted({a for n in schedule_names() for a in schedule_args(n)})


def classes(kind: str) -> list[str]:
    """Class names of `kind` ("optimizers", "schedules", "losses", "metrics")."""
    fallback = {"optimizers": sorted(OPTIMIZERS), "schedules": sorted(SCHEDULES),
                "losses": LOSSES, "metrics": METRICS}[kind]
    return _catalog_names(kind) or fallback
