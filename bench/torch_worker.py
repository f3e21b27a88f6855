"""PyTorch-side measurements in a fresh subprocess (`python -m bench.torch_worker JOB`).

The same MLP and LeNet-5 as the Keras benchmarks, trained with a plain PyTorch loop: Adam
(learning rate 1e-3), cross-entropy on logits, the same batch size, batches pre-made in memory
(the Keras side reads a cached in-memory `tf.data` pipeline). `threads` sets
`torch.set_num_threads` (and the inter-op pool) before any work; None keeps PyTorch's defaults.
"""

from __future__ import annotations

import time

from bench.common import median, worker_main


def train_steps(job):
    """Median step time of each model over `rounds` timed runs of `steps` steps."""
    import torch
    threads = job.get("threads")
    if threads:
        torch.set_num_threads(int(threads[0]))
        torch.set_num_interop_threads(int(threads[1]))
    from bench.models import BATCH, arrays, torch_model
    out = {"threads": threads, "pools": [torch.get_num_threads(),
                                         torch.get_num_interop_threads()], "models": {}}
    for kind in job["models"]:
        batch, steps = BATCH[kind], job["steps"][kind]
        x, y, data = arrays(kind, batch * 32)
        if x.ndim == 4:
            x = x.transpose(0, 3, 1, 2).copy()  # NHWC → NCHW
        xs = torch.from_numpy(x).split(batch)
        ys = torch.from_numpy(y).split(batch)
        torch.manual_seed(0)
        model = torch_model(kind)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()

        def run(n, model=model, xs=xs, ys=ys, opt=opt, loss_fn=loss_fn):
            start = time.perf_counter()
            for i in range(n):
                j = i % len(xs)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xs[j]), ys[j])
                loss.backward()
                opt.step()
            loss.item()
            return (time.perf_counter() - start) / n

        per_step = run(4)  # warm-up; then at most ~1 s per timed run (slow thread settings)
        steps = max(4, min(steps, int(1.0 / max(per_step, 1e-6))))
        times = [run(steps) for _ in range(job["rounds"])]
        out["models"][kind] = {"data": data, "batch": batch, "steps": steps,
                               "step_ms": median(times) * 1e3, "min_ms": min(times) * 1e3,
                               "all_ms": [t * 1e3 for t in times]}
    return out


if __name__ == "__main__":
    worker_main({"torch": train_steps})
