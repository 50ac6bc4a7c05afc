"""Does the cost model pick the fastest contraction order? Times forward+backward of every order of the s5/neck
bottleneck map, side by side, for shapes that Centaurus models use, and prints the chosen order's time over the
fastest one's (1.00: the model picked the fastest).

    python benchmarks/contraction_orders.py [--threads 2] [--reps 3]
"""
import argparse
import statistics
import time

import opt_einsum
import torch

from centaurus.ssm import ORDERS, ContractionPlan, bottleneck_apply, bottleneck_kernels, choose_contraction
from centaurus.ssm.chunked import best_chunk
from centaurus.ssm.contraction import FREQUENCY_EQUATION

# (B, C, D, M, N', L): s5 has M = J·N bottleneck channels of one pole each, neck M = J channels of N poles.
SHAPES = [
    (8, 1, 1, 16, 1, 16384),      # an hourglass's full-rate level without a stem
    (8, 8, 8, 16, 1, 16384),      # a narrow stem
    (8, 16, 16, 16, 1, 16384),    # the shipped denoiser's stem
    (8, 4, 4, 64, 1, 16384),
    (8, 16, 16, 64, 1, 4096),
    (8, 64, 64, 16, 1, 512),      # its coarsest level
    (16, 192, 192, 64, 1, 400),   # the offline ASR blocks
    (8, 8, 8, 2, 8, 16384),       # neck J=2
    (8, 64, 64, 1, 16, 16000),    # issue 2's benchmark: neck J=1
    (8, 64, 64, 16, 1, 16000),    # ... s5 J=1
    (16, 1, 1, 256, 1, 4000),
]
_KERNEL_FIRST_LIMIT = 3e9  # D·C·M·N'·L kernel taps above which kernel-first is not timed (it runs for minutes)


def time_order(order: str, shape: tuple[int, ...], reps: int) -> float | None:
    B, C, D, M, N, L = shape
    if order == "kernel-first" and D * C * M * N * L > _KERNEL_FIRST_LIMIT:
        return None
    torch.manual_seed(0)
    u = torch.randn(B, C, L, requires_grad=True)
    w_in, w_out = torch.randn(M, C, requires_grad=True), torch.randn(D, M, requires_grad=True)
    weight = torch.randn(M, N, dtype=torch.complex64, requires_grad=True)
    log_pole = torch.complex(-0.01 * torch.rand(M, N), torch.rand(M, N)).requires_grad_()
    path, _ = opt_einsum.contract_path(FREQUENCY_EQUATION, (B, C, L + 1), (M, L + 1), (M, C), (D, M),
                                       shapes=True, optimize="optimal")
    plan = ContractionPlan(order, 0.0, (), tuple(path), best_chunk(B, M, N, L)[0])
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        kernels = bottleneck_kernels(w_in=w_in, w_out=w_out, weight=weight, log_pole=log_pole, length=L,
                                     order=order, chunk=plan.chunk)
        bottleneck_apply(u, kernels, plan).sum().backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"forward+backward seconds, median of {args.reps}, {args.threads} threads")
    print(f"{'B':>3} {'C':>4} {'D':>4} {'M':>4} {'N':>3} {'L':>6}  " + "".join(f"{o:>14}" for o in ORDERS)
          + f"  {'chosen':>14}  chosen/fastest")
    ratios = []
    for shape in SHAPES:
        times = {order: time_order(order, shape, args.reps) for order in ORDERS}
        chosen = choose_contraction(*shape).order
        ratio = times[chosen] / min(t for t in times.values() if t is not None)
        ratios.append(ratio)
        cells = "".join(f"{'-' if t is None else f'{t:.3f}':>14}" for t in times.values())
        print(" ".join(f"{v:>{w}}" for v, w in zip(shape, (3, 4, 4, 4, 3, 6))) + f"  {cells}  {chosen:>14}  "
              f"{ratio:.2f}")
    print(f"chosen/fastest: mean {statistics.mean(ratios):.2f}, worst {max(ratios):.2f}")


if __name__ == "__main__":
    main()
