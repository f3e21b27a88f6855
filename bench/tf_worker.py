"""TensorFlow-side measurements, each run in a fresh subprocess (`python -m bench.tf_worker JOB`).

Jobs (a JSON object with `kind`):
- `overhead`: a spec-compiled model against its hand-written twin — same weights, losses over
  the first steps, and step times alternated over rounds (zero-overhead benchmark).
- `runtime`: step times of one model under several compile settings (`steps_per_execution`,
  `jit_compile`) with the thread pools the job names (good-defaults and PyTorch benchmarks).
- `build`: time to build a spec against the equivalent `keras.applications` constructor.
"""

from __future__ import annotations

import time

from bench.common import median, worker_main


def _setup(threads):
    """Pins TensorFlow's thread pools before anything runs (None keeps TensorFlow's own).

    `"modelspec"` applies what `modelspec train` applies by default (`runtime.apply_runtime`
    without a `threads:` entry: one inter-op thread on a CPU-only machine), and imports
    modelspec before TensorFlow, as its CLI does (its XLA flags, `modelspec/tfenv.py`).
    """
    if threads == "modelspec":
        import modelspec  # noqa: F401
    import tensorflow as tf
    if threads == "modelspec":
        from modelspec.training import runtime
        from modelspec.training.config import RuntimeConfig
        runtime.apply_runtime(RuntimeConfig())
    elif threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads[0]))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads[1]))
    return tf


def _dataset(tf, x, y, batch, as_dict):
    feats, targs = ({"image": x}, {"label": y}) if as_dict else (x, y)
    ds = tf.data.Dataset.from_tensor_slices((feats, targs)).batch(batch, drop_remainder=True)
    return ds.cache().repeat().prefetch(tf.data.AUTOTUNE)


def _compile(model, as_dict, spe=1, jit="auto"):
    """Adam 1e-3 and cross-entropy on logits; `spe="modelspec"` takes modelspec's defaults.

    With `"modelspec"` the runtime arguments are exactly what `modelspec train` passes to
    `model.compile` for a spec without runtime settings
    (`runtime.compile_options(RuntimeConfig(), model)`: steps per execution and XLA by model
    kind), and the returned options say whether its `fit` runs with XLA auto-clustering
    (`runtime.wants_autoclustering`; see `_fit_time`).
    """
    import keras
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    autocluster = False
    if spe == "modelspec":
        from modelspec.training.config import RuntimeConfig
        from modelspec.training.runtime import compile_options, wants_autoclustering
        options = compile_options(RuntimeConfig(), model)
        autocluster = wants_autoclustering(RuntimeConfig(), model)
    else:
        options = {"steps_per_execution": spe, "jit_compile": jit}
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss={"label": loss} if as_dict else loss, **options)
    return {**options, "autoclustering": True} if autocluster else options


def _fit_time(model, ds, steps, autocluster=False):
    """Seconds per step of one `fit` of `steps` steps (with auto-clustering when asked, as
    `modelspec train` runs `fit`)."""
    from contextlib import nullcontext
    if autocluster:
        from modelspec.training.runtime import autoclustering
        context = autoclustering(True)
    else:
        context = nullcontext()
    with context:
        start = time.perf_counter()
        model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        return (time.perf_counter() - start) / steps


def overhead(job):
    """Runs `overhead_one` for each model of the job in this process."""
    tf = _setup(job.get("threads"))
    return {"models": [overhead_one(tf, kind, job["steps"][kind], job["rounds"],
                                    job["loss_steps"], job.get("spe", 1))
                       for kind in job["models"]]}


def overhead_one(tf, kind, steps, rounds, loss_steps, spe=1):
    """Spec-compiled vs hand-written: initial weights, loss agreement, step-time ratio.

    Both sides are compiled alike: `spe` steps per execution, XLA off (`jit_compile=False`).
    """
    import keras
    import numpy as np

    from bench.models import BATCH, KERAS, SPEC_FILES, arrays, copy_weights
    from modelspec.build.compiler import build_from_spec
    batch = BATCH[kind]
    keras.utils.set_random_seed(0)
    spec_model = build_from_spec(str(SPEC_FILES[kind]))
    keras.utils.set_random_seed(0)
    hand = KERAS[kind]()
    same_init = all(np.array_equal(a, b) for a, b in
                    zip(spec_model.get_weights(), hand.get_weights()))
    copied = copy_weights(spec_model, hand)
    n_params = (spec_model.count_params(), hand.count_params())
    x, y, data = arrays(kind, batch * max(loss_steps, 8))
    _compile(spec_model, True, spe=spe, jit=False)
    _compile(hand, False, spe=spe, jit=False)
    losses = {"spec": [], "hand": []}
    for i in range(loss_steps):
        xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
        ls = spec_model.train_on_batch({"image": xb}, {"label": yb}, return_dict=True)
        lh = hand.train_on_batch(xb, yb, return_dict=True)
        losses["spec"].append(float(ls["loss"]))
        losses["hand"].append(float(lh["loss"]))
    diffs = [abs(a - b) for a, b in zip(losses["spec"], losses["hand"])]
    graph = _graph_ops_difference(tf, spec_model, hand, x[:batch], y[:batch])
    ds_spec = _dataset(tf, x, y, batch, True)
    ds_hand = _dataset(tf, x, y, batch, False)
    for _ in range(2):  # warm-up: tracing, first-iterator costs, caches
        _fit_time(spec_model, ds_spec, steps)
        _fit_time(hand, ds_hand, steps)
    times = {"spec": [], "hand": []}
    for r in range(rounds):
        order = [("spec", spec_model, ds_spec), ("hand", hand, ds_hand)]
        for name, model, ds in (order if r % 2 == 0 else order[::-1]):
            times[name].append(_fit_time(model, ds, steps))
    ratios = [s / h for s, h in zip(times["spec"], times["hand"])]
    return {"model": kind, "data": data, "batch": batch, "params": n_params,
            "same_init_by_seed": same_init, "layers_copied": copied,
            "loss_steps": loss_steps, "max_loss_diff": max(diffs),
            "first_loss": losses["spec"][0], "last_loss": (losses["spec"][-1],
                                                           losses["hand"][-1]),
            "steps": steps, "rounds": rounds,
            "spec_step_ms": median(times["spec"]) * 1e3,
            "hand_step_ms": median(times["hand"]) * 1e3,
            "ratio": median(times["spec"]) / median(times["hand"]),
            "round_ratio": median(ratios), "ratios": ratios, "spe": spe,
            "spec_min_ms": min(times["spec"]) * 1e3, "hand_min_ms": min(times["hand"]) * 1e3,
            "ratio_min": min(times["spec"]) / min(times["hand"]), "graph": graph}


def _graph_ops_difference(tf, spec_model, hand, x, y):
    """Counts the ops of each side's traced `train_step` (forward, loss, gradients, optimizer
    update, metrics) and the op types by which they differ.

    Timings on this machine are noisy; the graphs say deterministically whether the two sides
    compute the same thing. Returns op counts and `{op type: count}` present on one side only.
    """
    from collections import Counter

    def ops(model, data):
        graph = tf.function(model.train_step).get_concrete_function(data).graph
        return Counter(op.type for op in graph.get_operations())

    xs, ys = tf.constant(x), tf.constant(y)
    spec_ops = ops(spec_model, ({"image": xs}, {"label": ys}))
    hand_ops = ops(hand, (xs, ys))
    return {"spec_ops": sum(spec_ops.values()), "hand_ops": sum(hand_ops.values()),
            "spec_only": dict(spec_ops - hand_ops), "hand_only": dict(hand_ops - spec_ops)}


def runtime(job):
    """Median step times of each model under each compile config, with the job's threads.

    Job keys: `models`, `configs` (a list of `{spe, jit}`, or model → list), `steps` (model →
    steps per timed run), `rounds`, `threads` (`[intra, inter]` or None).
    """
    tf = _setup(job.get("threads"))
    import keras

    from bench.models import BATCH, KERAS, arrays
    out = {"threads": job.get("threads"),
           "pools": [tf.config.threading.get_intra_op_parallelism_threads(),
                     tf.config.threading.get_inter_op_parallelism_threads()],
           "models": {}}
    for kind in job["models"]:
        batch, steps = BATCH[kind], job["steps"][kind]
        x, y, data = arrays(kind, batch * 32)
        ds = _dataset(tf, x, y, batch, False)
        runs = []
        configs = job["configs"]
        for cfg in (configs[kind] if isinstance(configs, dict) else configs):
            keras.utils.set_random_seed(0)
            model = KERAS[kind]()
            options = _compile(model, False, spe=cfg["spe"], jit=cfg["jit"])
            auto = bool(options.get("autoclustering"))
            t0 = time.perf_counter()
            _fit_time(model, ds, steps, auto)  # trace/compile + warm-up
            warm = time.perf_counter() - t0
            _fit_time(model, ds, steps, auto)
            runs.append(({**cfg, "options": options}, model, warm))
        times = [[] for _ in runs]
        for r in range(job["rounds"]):
            idx = list(range(len(runs)))
            for i in (idx if r % 2 == 0 else idx[::-1]):
                auto = bool(runs[i][0]["options"].get("autoclustering"))
                times[i].append(_fit_time(runs[i][1], ds, steps, auto))
        out["models"][kind] = {
            "data": data, "batch": batch, "steps": steps,
            "configs": [{**cfg, "step_ms": median(t) * 1e3, "min_ms": min(t) * 1e3,
                         "all_ms": [v * 1e3 for v in t],
                         "first_fit_s": warm}
                        for (cfg, _, warm), t in zip(runs, times)]}
        keras.backend.clear_session()
    return out


APPLICATIONS = {"vgg19": "VGG19", "densenet121": "DenseNet121"}


def build(job):
    """Builds specs and the matching keras.applications models, alternating, `rounds` times.

    Job keys: `specs` (name → spec path, names among APPLICATIONS), `rounds`.
    """
    _setup(job.get("threads"))
    import keras

    from modelspec.build.compiler import build_from_spec
    out = []
    for name, spec in job["specs"].items():
        ctor = getattr(keras.applications, APPLICATIONS[name])
        sides = {"spec": lambda spec=spec: build_from_spec(spec),
                 "keras": lambda ctor=ctor: ctor(weights=None)}
        times = {k: [] for k in sides}
        params = {}
        for r in range(job["rounds"] + 1):  # round 0 warms imports and caches, not counted
            for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                keras.backend.clear_session()
                start = time.perf_counter()
                model = sides[side]()
                took = time.perf_counter() - start
                params[side] = model.count_params()
                if r:
                    times[side].append(took)
                del model
        ratios = [s / k for s, k in zip(times["spec"], times["keras"])]
        out.append({"name": name, "spec_s": median(times["spec"]),
                    "keras_s": median(times["keras"]), "ratio": median(ratios),
                    "params": params, "rounds": job["rounds"]})
    return {"builds": out}


if __name__ == "__main__":
    worker_main({"overhead": overhead, "runtime": runtime, "build": build})
