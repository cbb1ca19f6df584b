"""Kernel-level ops side by side with torch, one thread each, CPU time per call.

    cargo build --release --example kernels
    . ~/.cache/anchors-venv/bin/activate      # any Python with torch
    python3 examples/kernels_vs_torch.py [OP ...]

For each op (all of `target/release/examples/kernels --list` by default) it times torch's
version here (`torch.set_num_threads(1)`, CPU seconds from `time.process_time()` over at least
KERNELS_SECONDS seconds of calls, default 1.5), then ours in the Rust binary
(`RAYON_NUM_THREADS=1`, the same measurement), back to back, so that both see the same load.
With KERNELS_ROUNDS=R (default 1) the pair is timed R times, alternating, and each side's best
round is kept: on a shared machine the best of a few rounds moves far less than one round.
Prints a markdown table: ours, torch, torch / ours (above 1: we are faster).

With KERNELS_THREADS=N (N > 1) both sides run on N threads (`torch.set_num_threads(N)`,
`RAYON_NUM_THREADS=N`) and each round measures the median wall time of single calls instead of
CPU time (which would count every thread's spinning). A wall-time round is at the mercy of
whatever else the machine does in those seconds, so the table then also gives the median over
rounds of each round's ratio: the two sides of a round ran seconds apart, under the same load.

To time the AVX2 routes on an AVX-512 machine, cap both sides the same way:

    FUNCTORCH_CPU_CAPABILITY=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python3 examples/kernels_vs_torch.py [OP ...]
"""

import json
import os
import subprocess
import sys
import time

import torch

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "examples", "kernels")
BUDGET = float(os.environ.get("KERNELS_SECONDS", "1.5"))
ROUNDS = int(os.environ.get("KERNELS_ROUNDS", "1"))
THREADS = int(os.environ.get("KERNELS_THREADS", "1"))


def cpu_per_call(f):
    f()
    f()
    n = 1
    while True:
        t0 = time.process_time()
        for _ in range(n):
            f()
        dt = time.process_time() - t0
        if dt >= BUDGET:
            return dt / n
        n *= 2


def wall_median(f):
    """The median wall seconds of one call of f, over at least BUDGET seconds and 5 calls."""
    f()
    f()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < BUDGET:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def torch_op(name):
    """The torch call for one of the Rust binary's op names."""
    torch.manual_seed(7)
    parts = name.split("_")
    dt = torch.float64 if "f64" in parts else torch.float32
    randn = lambda *s: torch.randn(*s, dtype=dt)
    if parts[0] == "matmul":
        rest = "_".join(parts[2:])
        if rest.isdigit():
            n = int(rest)
            a, b = randn(n, n), randn(n, n)
        elif rest == "512_at_b":
            a, b = randn(512, 512).t(), randn(512, 512)
        elif rest == "512_a_bt":
            a, b = randn(512, 512), randn(512, 512).t()
        else:
            shapes = {
                "tall_10000x64x64": ((10000, 64), (64, 64)),
                "inner_64x10000x64": ((64, 10000), (10000, 64)),
                "wide_64x64x10000": ((64, 64), (64, 10000)),
                "mv_2048": ((2048, 2048), (2048,)),
                "bmm_1000x8x8x8": ((1000, 8, 8), (1000, 8, 8)),
                "outer_k4_1000x4x1000": ((1000, 4), (4, 1000)),
                "mlp_256x64x128": ((256, 64), (64, 128)),
                "mlp_256x128x10": ((256, 128), (128, 10)),
                "mlp_256x10x128": ((256, 10), (10, 128)),
                "mlp_128x256x10": ((128, 256), (256, 10)),
                "mlp_64x256x128": ((64, 256), (256, 128)),
                "bmm_512x16x64x32": ((512, 16, 64), (512, 64, 32)),
            }[rest]
            a, b = randn(*shapes[0]), randn(*shapes[1])
        return lambda: torch.matmul(a, b)
    if parts[0] in ("sum", "max", "mean", "logsumexp", "softmax", "bias"):
        if parts[1] in ("rows", "cols"):
            r, c = map(int, parts[-1].split("x"))
            m = randn(r, c)
            d = 1 if parts[1] == "rows" else 0
            if parts[0] == "logsumexp":
                return lambda: torch.logsumexp(m, d)
            if parts[0] == "mean":
                return lambda: m.mean(d)
            if parts[0] == "max":
                return lambda: m.amax(d)
            if parts[0] == "softmax":
                return lambda: torch.softmax(m, d)
            if parts[0] == "bias":
                bias = randn(c)
                return lambda: m + bias
            return lambda: m.sum(d)
        x = randn(10_000_000)
        return (lambda: x.sum()) if parts[0] == "sum" else (lambda: x.max())
    op = parts[0]
    if op in ("asin", "acos"):
        x = torch.rand(1_000_000, dtype=dt)
    elif parts[1] == "signed":
        x = randn(1_000_000)
    else:
        x = randn(1_000_000).abs() + 0.1
    if op == "add1":
        return lambda: x + 1.0
    if op == "div":
        y = x + 1.0
        return lambda: x / y
    if op == "pow":
        return lambda: torch.pow(x, 2.7)
    f = getattr(torch, op, None) or getattr(torch.nn.functional, op)
    return lambda: f(x)


def main():
    torch.set_num_threads(THREADS)
    wall = THREADS > 1
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS), KERNELS_WALL="1" if wall else "0")
    key, measure = ("wall_s", wall_median) if wall else ("cpu_s", cpu_per_call)
    names = sys.argv[1:] or subprocess.run(
        [BIN, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    if wall:
        print("| op | ours | torch | torch / ours | median of the rounds' ratios |")
        print("|---|---:|---:|---:|---:|")
    else:
        print("| op | ours | torch | torch / ours |")
        print("|---|---:|---:|---:|")
    for name in names:
        f = torch_op(name)
        theirs, ours, ratios = float("inf"), float("inf"), []
        for _ in range(ROUNDS):
            t = measure(f)
            out = subprocess.run([BIN, name], capture_output=True, text=True, env=env, check=True)
            o = json.loads(out.stdout.strip().splitlines()[-1])[key]
            theirs, ours = min(theirs, t), min(ours, o)
            ratios.append(t / o)
        ratios.sort()
        fmt = lambda s: f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} µs"
        row = f"| {name} | {fmt(ours)} | {fmt(theirs)} | {theirs / ours:.2f} |"
        if wall:
            row += f" {ratios[len(ratios) // 2]:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
