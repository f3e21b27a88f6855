"""Runs every benchmark and writes `bench/RESULTS.md`.

Usage:
    python -m bench            # full run (< 10 min on 2 cores), writes bench/RESULTS.md
    python -m bench --quick    # seconds-scale smoke run of every section, prints the report
    python -m bench --only overhead,runtime --output /tmp/r.md

Sections: overhead (1), runtime (2 + 3: good defaults and PyTorch), startup (4), data (5),
tta (6: time to accuracy), gpu (7).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import sections
from bench.common import BENCH_DIR, REPO, machine, quiet_env
from bench.sections import Section

# Section 1 compiles both sides with the steps per execution `modelspec train` uses by default
# (`modelspec.training.runtime.DEFAULT_STEPS_PER_EXECUTION`, not imported here: it imports
# TensorFlow; tests/test_bench.py checks the two agree).
OVERHEAD_SPE = 8

ALL = ("overhead", "runtime", "startup", "data", "tta", "gpu")


def config(quick: bool, tta_spec=None) -> dict:
    """The sizes of every section: the full run, or a smoke run (`quick`).

    Args:
        quick: Seconds-scale sizes for a smoke run.
        tta_spec: The LeNet-5 spec of the time-to-accuracy section (default
            bench/specs/lenet5.yaml: 20 epochs; specs/lenet5.yaml trains 30 epochs of batch
            32, too long for the ten-minute budget of the whole run on 2 cores).
    """
    tta_spec = Path(tta_spec) if tta_spec else BENCH_DIR / "specs" / "lenet5.yaml"
    if quick:
        steps = {"mlp": 16}
        return {"quick": True, "models": ["mlp"], "overhead_steps": steps, "overhead_rounds": 2,
                "overhead_spe": OVERHEAD_SPE,
                "loss_steps": 10, "runtime_steps": steps, "runtime_rounds": 1,
                "tf_threads": [], "torch_threads": [], "pin_threads": [2, 2],
                "validate_rounds": 1, "build_rounds": 1, "tta_spec": tta_spec}
    return {"quick": False, "models": ["mlp", "lenet5", "resnet_small"],
            "overhead_steps": {"mlp": 128, "lenet5": 64, "resnet_small": 16},
            "overhead_rounds": 8, "overhead_spe": OVERHEAD_SPE, "loss_steps": 50,
            "runtime_steps": {"mlp": 64, "lenet5": 32, "resnet_small": 8},
            "runtime_rounds": 5, "tf_threads": [[2, 1], [1, 1]], "torch_threads": [[1, 1]],
            "pin_threads": [2, 2], "validate_rounds": 3, "build_rounds": 2,
            "tta_spec": tta_spec}


def gpu_section(cfg) -> Section:
    """Section 7: runs `python -m bench.gpu` (prints 'skipped: no GPU' on a CPU machine)."""
    sec = Section("7. GPU: ResNet-50 bf16 + XLA throughput, CIFAR-10 time to 94 %")
    proc = subprocess.run([sys.executable, "-m", "bench.gpu"], capture_output=True, text=True,
                          env=quiet_env(), cwd=str(REPO), timeout=1800)
    out = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    result = json.loads(out[-1]) if out and out[-1].startswith("{") else {}
    if not result.get("gpus"):
        sec.lines.append("**skipped: no GPU** on this machine. On a GPU machine run, unchanged:")
    else:
        r = result["resnet50"]
        mfu = f"{r['mfu'] * 100:.1f} %" if r.get("mfu") else "n/a (unknown peak)"
        sec.table(["GPU", "ResNet-50 images/s (bf16+XLA, batch 256)", "MFU",
                   "reference (TF AMP+XLA, A100)"],
                  [[r["gpu"], f"{r['images_per_s']:.0f}", mfu, "2,375 images/s"]])
        sec.lines.append(f"CIFAR-10: `{json.dumps(result.get('cifar10'))}` "
                         "(reference: 94 % in 3.3 s on an A100, PyTorch airbench94)")
        sec.lines.append("")
    sec.lines += ["", "```", "python -m bench.gpu   # ResNet-50 images/s and MFU",
                  "python -m bench.gpu --cifar-dir /path/to/cifar10   # + time to 94 % "
                  "(train/ and test/ class folders; spec bench/specs/resnet18_cifar.yaml)",
                  "```", "",
                  "Figures to compare with: TensorFlow ResNet-50 AMP + XLA on one A100: "
                  "2,375 images/s; CIFAR-10 to 94 %: 3.3 s on an A100 in PyTorch. MFU = "
                  "images/s × 24.5 GFLOP (3 × 8.2 GFLOP forward) ÷ the GPU's peak bf16 FLOP/s."]
    return sec


RUNNERS = {"overhead": lambda c: [sections.zero_overhead(c)],
           "runtime": sections.runtime_and_torch,
           "startup": lambda c: [sections.startup(c)],
           "data": lambda c: [sections.data(c)],
           "tta": lambda c: [sections.time_to_accuracy(c)],
           "gpu": lambda c: [gpu_section(c)]}


def run(only=ALL, quick=False, tta_spec=None) -> tuple[list[Section], float]:
    """Runs the named sections; a failing section is reported, not fatal."""
    cfg = config(quick, tta_spec)
    out, start = [], time.perf_counter()
    for name in only:
        t0 = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            secs = RUNNERS[name](cfg)
        except Exception as err:  # noqa: BLE001 - one broken section must not hide the rest
            secs = [Section(f"{name}: failed", [f"```\n{err}\n```"])]
        took = time.perf_counter() - t0
        for s in secs:
            s.seconds = took / len(secs)
        out.extend(secs)
        print(f"[bench] {name} done in {took:.0f} s", file=sys.stderr, flush=True)
    return out, time.perf_counter() - start


def render(secs, total, argv, info) -> str:
    """The markdown report."""
    lines = ["# modelspec benchmarks", "",
             f"Command: `python -m bench {' '.join(argv)}`".replace(" `", " `", 1), "",
             f"Total wall time: {total:.0f} s. Measured {info['date']}.", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += ["", "Figures are medians of alternated runs on a shared, noisy 2-core machine "
              "(other processes were running: see the load averages); ratios compare figures "
              "from this same run.", ""]
    head = {}
    for s in secs:
        head.update(s.headline)
    lines += ["## Headline", ""] + _headline(head) + [""]
    for s in secs:
        lines += [f"## {s.title}", "", *s.lines, "", f"_section time: {s.seconds:.0f} s_", ""]
    return "\n".join(lines) + "\n"


def _headline(h) -> list[str]:
    rows = ["| figure | measured | target |", "|---|---|---|"]
    for k in ("mlp", "lenet5", "resnet_small"):
        if f"overhead_{k}" in h:
            rows.append(f"| spec ÷ hand-written step time, {k} | {h[f'overhead_{k}']:.3f} "
                        "| ≤ 1.02 |")
    for k in ("mlp", "lenet5", "resnet_small"):
        if f"defaults_{k}" in h:
            b = h[f"best_{k}"]
            rows.append(f"| `modelspec train` defaults ÷ fit defaults throughput, {k} "
                        f"({h[f'defaults_cfg_{k}']}; best measured "
                        f"{b['speed']:.2f}×) | {h[f'defaults_{k}']:.2f}× | ≥ 1.3× |")
    for k in ("mlp", "lenet5"):
        if f"torch_{k}" in h:
            rows.append(f"| modelspec defaults ÷ PyTorch best time, {k} | "
                        f"{h[f'torch_{k}']:.2f} (best ÷ best {h[f'torch_best_{k}']:.2f}; "
                        f"fit defaults ÷ PyTorch defaults {h[f'torch_default_{k}']:.2f}) "
                        "| ≤ 0.8 |")
    if "validate_s" in h:
        rows.append(f"| `modelspec validate specs/*.yaml` | {h['validate_s']:.2f} s | ≤ 1 s |")
    for k in ("vgg19", "densenet121"):
        if f"build_{k}" in h:
            rows.append(f"| build {k} ÷ keras.applications | {h[f'build_{k}']:.2f} | ≤ 1.2 |")
    if "tta_s" in h:
        acc = h.get("tta_accuracy")
        rows.append(f"| LeNet-5 train + export to test accuracy {acc:.4f} | {h['tta_s']:.0f} s "
                    "| ≥ 0.985 |")
    return rows


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--only", help=f"comma-separated sections of: {','.join(ALL)}")
    parser.add_argument("--output", type=Path, help="report path (default bench/RESULTS.md; "
                        "--quick prints to stdout unless given)")
    parser.add_argument("--tta-spec", type=Path, help="LeNet-5 spec for time to accuracy "
                        "(default bench/specs/lenet5.yaml; e.g. specs/lenet5.yaml)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",")] if args.only else list(ALL)
    bad = [s for s in only if s not in ALL]
    if bad:
        parser.error(f"unknown section(s) {', '.join(bad)}; choose from {', '.join(ALL)}")
    info = machine()
    secs, total = run(only, args.quick, args.tta_spec)
    info["load_avg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = render(secs, total, argv, info)
    output = args.output or (None if args.quick else BENCH_DIR / "RESULTS.md")
    if output is None:
        sys.stdout.write(text)
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, output)
        print(f"wrote {output} ({total:.0f} s)", file=sys.stderr)
    return 0
