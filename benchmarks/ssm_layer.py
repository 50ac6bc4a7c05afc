"""SSM-layer forward+backward time and peak memory, against a naive baseline in the same run.

Setting (issue 2): batch 8, C = D = 64, N = 16, L = 16000, fp32, 2 threads, `SSMLayer` defaults. dws and
full are also run with glibc told to keep freed memory, which saves page-faulting every large tensor anew.
The naive baseline materialises the (…, N, L) basis, convolves with a plain autograd FFT (no custom
backward) and uses the reference's fixed contraction rule. Each case runs in its own process, so its peak
RSS is its own. Prints a table with the ratios, and the contraction order chosen per shape.

    python benchmarks/ssm_layer.py [--reps 5] [--length 16000] [--device cuda]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from centaurus import SSMLayer, set_run_mode
from centaurus.models import MiniCentaur
from centaurus.ssm import choose_contraction

CASES = [("dws", 1), ("s5", 1), ("neck", 1), ("s5", 4), ("neck", 4), ("full", 1)]
BATCH, CHANNELS, STATES = 8, 64, 16


def naive_forward(layer: SSMLayer, u: torch.Tensor) -> torch.Tensor:
    """The reference-style computation: materialised basis, autograd FFT, fixed order."""
    ops = layer.operands()
    L = u.shape[-1]
    basis = torch.exp(ops.log_pole[..., None] * torch.arange(L, dtype=torch.float32, device=u.device))  # (..., N, L)
    n = 2 * L

    def conv(x, kernel, full):
        spec_x = torch.fft.rfft(x, n=n)
        spec_k = torch.fft.rfft(kernel, n=n)
        spec = torch.einsum("bcf,dcf->bdf", spec_x, spec_k) if full else spec_x * spec_k
        return torch.fft.irfft(spec, n=n)[..., :L]

    if layer.mode in ("dws", "full"):
        kernel = (ops.readout[..., None] * ops.beta[..., None] * basis).sum(-2).real
        return layer.mixer(conv(u, kernel, layer.mode == "full"))
    per_channel = (ops.readout[..., None] * ops.beta[..., None] * basis).sum(-2).real      # (M, L)
    B, C, D, M = u.shape[0], layer.in_channels, layer.out_channels, ops.w_in.shape[0]
    if 1 / C + 1 / D > 1 / B + 1 / M:  # the reference's rule, blind to FFTs and length
        kernel = torch.einsum("dm,mc,ml->dcl", ops.w_out, ops.w_in, per_channel)
        return conv(u, kernel, True)
    x = torch.einsum("mc,bcl->bml", ops.w_in, u)
    return torch.einsum("dm,bml->bdl", ops.w_out, conv(x, per_channel, False))


def run_case(mode: str, blocks: int, impl: str, length: int, reps: int, device: str = "cpu", amp: str = "none") -> dict:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    layer = SSMLayer(STATES, CHANNELS, CHANNELS, mode=mode, state_blocks=blocks).to(device)
    u = torch.randn(BATCH, CHANNELS, length, device=device, requires_grad=True)
    grad = torch.randn(BATCH, CHANNELS, length, device=device)
    forward = layer if impl == "centaurus" else (lambda x: naive_forward(layer, x))
    cuda = device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    autocast = torch.autocast(device, dtype=getattr(torch, amp) if amp != "none" else None, enabled=amp != "none")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(reps + 1):  # the first run warms up
        sync()
        start = time.perf_counter()
        with autocast:
            y = forward(u)
        y.backward(grad.to(y.dtype))
        sync()
        times.append(time.perf_counter() - start)
        layer.zero_grad(set_to_none=True)
        u.grad = None
    if cuda:  # the caching allocator's high-water mark, not the process's RSS
        peak_gb, growth_gb = torch.cuda.max_memory_allocated() / 1e9, None
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_gb, growth_gb = peak / 1e6, (peak - before) / 1e6
    return dict(median=statistics.median(times[1:]), min=min(times[1:]), peak_gb=peak_gb, growth_gb=growth_gb)


def streaming_errors(length: int) -> list[tuple[str, float]]:
    """Max |chunked − one-shot| in fp32 over `length` samples, chunks of 160 and of 1601 samples."""
    torch.manual_seed(0)
    x = torch.randn(1, CHANNELS, length)
    networks = [("MiniCentaur", MiniCentaur())]
    networks += [(f"{m} layer 64→64", SSMLayer(STATES, CHANNELS, CHANNELS, mode=m, state_blocks=4))
                 for m in ("dws", "s5", "neck", "full")]
    errors = []
    for name, model in networks:
        model.eval()
        inputs = x[:, :1] if name == "MiniCentaur" else x
        with torch.no_grad():
            one_shot = model(inputs)
            for chunk in (160, 1601):
                set_run_mode(model, "inference")
                chunked = torch.cat([model(c) for c in inputs.split(chunk, -1)], -1)
                errors.append((f"{name}, chunks of {chunk}", (chunked - one_shot).abs().max().item()))
                set_run_mode(model, "training")
    return errors


# glibc hands buffers above 32 MB back to the OS on free, so every large tensor is page-faulted in afresh;
# these variables make it keep them (PyTorch's CPU tuning guide gives the same advice via jemalloc/tcmalloc).
KEEP_FREED = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**40)}


def in_subprocess(mode, blocks, impl, length, reps, env=None, device="cpu", amp="none") -> dict:
    cmd = [sys.executable, __file__, "--case", mode, str(blocks), impl, str(length), str(reps), device, amp]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        reason = "out of memory" if proc.returncode in (-9, 137) else proc.stderr.strip().splitlines()[-1]
        return dict(error=reason)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--length", type=int, default=16000)
    parser.add_argument("--naive-full-length", type=int, default=4000,
                        help="the naive full-mode baseline materialises D·C·N·L floats, so it runs shorter")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: times on the GPU, peak = CUDA allocator high-water mark, plus autocast rows")
    parser.add_argument("--case", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        mode, blocks, impl, length, reps, device, amp = args.case
        print(json.dumps(run_case(mode, int(blocks), impl, int(length), int(reps), device, amp)))
        return
    if args.device == "cuda":
        cuda_table(args)
        return
    # The figures depend on the host's vector width (AVX2 hosts take about twice as long for dws and full).
    print(f"B={BATCH} C=D={CHANNELS} N={STATES} fp32, 2 threads, forward+backward, median of {args.reps}, "
          f"CPU kernels: {torch.backends.cpu.get_cpu_capability()}")
    print(f"{'case':<10}{'L':>7}{'centaurus s':>13}{'peak GB':>9}{'naive s':>10}{'peak GB':>9}{'speed-up':>10}")
    for mode, blocks in CASES:
        ours = in_subprocess(mode, blocks, "centaurus", args.length, args.reps)
        naive_length = args.naive_full_length if mode == "full" else args.length
        naive = in_subprocess(mode, blocks, "naive", naive_length, args.reps if mode != "full" else 2)
        if mode == "full":
            short = in_subprocess(mode, blocks, "centaurus", naive_length, args.reps)
            _row(f"{mode} J={blocks}", naive_length, short, naive)
            naive = dict(error="too big")  # the naive basis alone is D·C·N·L·4 B = 4.2 GB here
        _row(f"{mode} J={blocks}", args.length, ours, naive)
    print("\nthe same with glibc keeping freed memory (" + " ".join(f"{k}={v}" for k, v in KEEP_FREED.items()) + "):")
    for mode in ("dws", "full"):
        tuned = in_subprocess(mode, 1, "centaurus", args.length, args.reps, env=KEEP_FREED)
        _row(f"{mode} J=1", args.length, tuned, dict(error="-"))
    print(f"\nstreaming, max |chunked − one-shot| over {args.length} samples (target ≤ 1e-5):")
    for name, error in streaming_errors(args.length):
        print(f"  {name:<34}{error:.1e}")
    print("\ncontraction order chosen per shape:")
    print(f"  {'mode':<9}{'B':>4}{'C':>5}{'D':>5}{'M':>5}{'N':>4}{'L':>7}  order")
    for mode, blocks in (("s5", 1), ("s5", 4), ("s5", 16), ("neck", 4)):
        M, Np = (blocks * STATES, 1) if mode == "s5" else (blocks, STATES)
        for B, C, D in ((1, 1, 1), (8, 1, 16), (8, 64, 64), (64, 256, 256)):
            for L in (256, args.length):
                plan = choose_contraction(B, C, D, M, Np, L)
                print(f"  {mode + ' J=' + str(blocks):<9}{B:>4}{C:>5}{D:>5}{M:>5}{Np:>4}{L:>7}  {plan.order}")


def cuda_table(args) -> None:
    """The same cases on the GPU, in this process (the allocator's peak is reset per case): fp32 against the
    naive baseline (full mode too: the GPU holds its basis), then bf16 and fp16 autocast against fp32."""
    def case(mode, blocks, impl="centaurus", amp="none"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        try:
            return run_case(mode, blocks, impl, args.length, args.reps, "cuda", amp)
        except torch.OutOfMemoryError:
            return dict(error="out of memory")

    print(f"{torch.cuda.get_device_name()}: B={BATCH} C=D={CHANNELS} N={STATES}, forward+backward, "
          f"median of {args.reps}, peak = CUDA allocator high-water mark")
    print(f"{'case':<10}{'L':>7}{'centaurus s':>13}{'peak GB':>9}{'naive s':>10}{'peak GB':>9}{'speed-up':>10}")
    fp32 = {}
    for mode, blocks in CASES:
        fp32[mode, blocks] = case(mode, blocks)
        _row(f"{mode} J={blocks}", args.length, fp32[mode, blocks], case(mode, blocks, "naive"))
    for amp in ("bfloat16", "float16"):
        print(f"\nautocast {amp} (the FFTs stay fp32); the 'naive' columns hold fp32 centaurus:")
        for mode, blocks in CASES:
            _row(f"{mode} J={blocks}", args.length, case(mode, blocks, amp=amp), fp32[mode, blocks])


def _row(name, length, ours, naive):
    def cell(result, key, fmt):
        width = int(fmt.split(".")[0])
        return format(result[key], fmt) if key in result else format(result.get("error", "-")[:width - 1], f">{width}")
    ratio = f"{naive['median'] / ours['median']:.1f}x" if "median" in ours and "median" in naive else "-"
    print(f"{name:<10}{length:>7}{cell(ours, 'median', '13.3f')}{cell(ours, 'peak_gb', '9.2f')}"
          f"{cell(naive, 'median', '10.3f')}{cell(naive, 'peak_gb', '9.2f')}{ratio:>10}")


if __name__ == "__main__":
    main()
