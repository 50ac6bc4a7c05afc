"""`centaurus demo`: stream a generated signal through MiniCentaur in real-time-sized chunks."""
import time

import torch
import typer
from rich.console import Console
from rich.table import Table

from centaurus import set_run_mode
from centaurus.models import MiniCentaur

SAMPLE_RATE = 16000


def demo(chunk_ms: float = typer.Option(10.0, help="chunk length in milliseconds"),
         seconds: float = typer.Option(2.0, help="length of the generated signal"),
         seed: int = typer.Option(0, help="seed of the model's initial weights"),
         threads: int = typer.Option(1, help="torch threads; one suits small real-time chunks")) -> None:
    """Stream a chirp through MiniCentaur chunk by chunk and check it equals one-shot processing."""
    if chunk_ms <= 0 or seconds <= 0 or threads < 1:
        raise typer.BadParameter("chunk-ms, seconds and threads must be positive")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = MiniCentaur().eval()
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    signal = torch.sin(2 * torch.pi * (100 + 1900 * t / seconds) * t)[None, None]   # 100 Hz → 2 kHz
    chunk = max(1, round(chunk_ms * SAMPLE_RATE / 1000))
    with torch.no_grad():
        one_shot = model(signal)
        set_run_mode(model, "inference")
        start = time.perf_counter()
        streamed = torch.cat([model(piece) for piece in signal.split(chunk, dim=-1)], dim=-1)
        elapsed = time.perf_counter() - start
    table = Table(title="MiniCentaur streaming demo")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("signal", f"{seconds:g} s chirp at {SAMPLE_RATE} Hz")
    table.add_row("chunk", f"{chunk} samples ({chunk / SAMPLE_RATE * 1000:g} ms)")
    table.add_row("output frames (one-shot / streamed)", f"{one_shot.shape[-1]} / {streamed.shape[-1]}")
    table.add_row("max |streamed − one-shot|", f"{(streamed - one_shot).abs().max().item():.2e}")
    table.add_row("real-time factor", f"{elapsed / seconds:.3f}")
    Console().print(table)
    if streamed.shape != one_shot.shape or not torch.allclose(streamed, one_shot, atol=1e-5):
        raise typer.Exit(1)
