"""`centaurus demo [--out DIR] [--denoiser M] [--kws M] [--asr M] [--device D] [--mini]`: the main job on the
bundled samples.

Three steps, each with a shipped model (or any checkpoint folder): denoise a noisy recording (enhanced file and
before/after spectrograms), spot keywords in a recording, transcribe an utterance. One step failing (a model not
shipped yet, a wrong model) does not stop the others; it is one line on stderr and the exit code is 1.
"""
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from centaurus.audio import SAMPLE_RATE

OUT = typer.Option(Path("demo-output"), help="Folder for the outputs (made if missing; earlier outputs are replaced).")


@dataclass
class Outcome:
    """What a step shows (label, value rows) and, if it failed, why, in one line."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    problem: str | None = None


def samples_dir() -> Path:
    """The bundled samples, installed with the shipped models (see pretrained/samples/README.md)."""
    return Path(str(resources.files("centaurus_pretrained"))) / "samples"


def _load(model: str, task_name: str):
    """(task, network) of a shipped model name or checkpoint folder, refusing a model made for another task."""
    from centaurus.errors import CheckpointError
    from centaurus.training import load_model, resolve_checkpoint
    path = resolve_checkpoint(model)
    _, task, network, _ = load_model(path)
    if task.name != task_name:
        raise CheckpointError(f"{path}: is a '{task.name}' model, not '{task_name}'")
    return task, network


def _scores(clean, wav) -> tuple[str, str, str]:
    """PESQ-WB ('n/a' where PESQ finds no speech), STOI and SI-SDR (dB) of a (L,) signal against `clean`."""
    from centaurus.tasks.denoise import speech_scores
    scores = speech_scores(clean, wav)
    pesq_wb = f"{scores['pesq_wb']:.2f}" if "pesq_wb" in scores else "n/a"
    return pesq_wb, f"{scores['stoi']:.2f}", f"{scores['si_sdr']:.1f}"


def denoise_step(model: str, samples: Path, out: Path, device: str = "cpu") -> Outcome:
    """Denoise noisy_speech.flac into OUT, plot noisy/enhanced/clean spectrograms and score both against clean."""
    from centaurus.audio import load_audio
    from centaurus.streaming import enhance_file
    from centaurus.tasks.plots import plot_spectrograms
    _, network = _load(model, "denoise")
    noisy, target = samples / "noisy_speech.flac", out / "noisy_speech.denoised.wav"
    report = enhance_file(network, noisy, target, device=device, progress=False)
    waves = {name: load_audio(path, sample_rate=SAMPLE_RATE).numpy()
             for name, path in (("noisy", noisy), ("enhanced", target), ("clean", samples / "clean_speech.flac"))}
    with np.errstate(divide="ignore"):  # digital silence has no log power; matplotlib plots it at the floor anyway
        png = plot_spectrograms(waves, out / "spectrograms.png", sample_rate=SAMPLE_RATE)
    before, after = _scores(waves["clean"], waves["noisy"]), _scores(waves["clean"], waves["enhanced"])
    scores = " · ".join(f"{name} {b} → {a}" for name, b, a in zip(("PESQ-WB", "STOI", "SI-SDR"), before, after))
    return Outcome([("input", noisy.name), ("enhanced", str(target)), ("spectrograms", str(png)),
                    ("noisy → enhanced", f"{scores} dB"),
                    ("speed", f"RTF {report.rtf:.3f}, latency {report.algorithmic_latency_ms:.1f} ms")])


def kws_step(model: str, samples: Path, device: str = "cpu") -> Outcome:
    """Spot keywords in keywords.flac; the step fails unless exactly the words of keywords.txt are found, in order."""
    from centaurus.audio import load_audio
    from centaurus.streaming import KeywordSpotter
    task, network = _load(model, "kws")
    audio = load_audio(samples / "keywords.flac", sample_rate=SAMPLE_RATE)
    expected = (samples / "keywords.txt").read_text().split()
    spotter = KeywordSpotter(network, task.classes, device=device)
    start = time.perf_counter()
    found = spotter.push(audio) + spotter.flush()
    rtf = (time.perf_counter() - start) / (audio.shape[0] / SAMPLE_RATE)
    heard = [d.keyword for d in found]
    outcome = Outcome([("input", "keywords.flac"),
                       ("detections", " · ".join(f"{d.keyword} {d.time_s:.2f} s ({d.confidence:.2f})"
                                                 for d in found) or "none"),
                       ("expected", " ".join(expected)), ("speed", f"RTF {rtf:.3f}")])
    if heard != expected:
        outcome.problem = f"heard {' '.join(heard) or 'nothing'}, expected {' '.join(expected)}"
    return outcome


def asr_step(model: str, samples: Path, device: str = "cpu") -> Outcome:
    """Transcribe utterance.flac (greedy CTC, as `centaurus transcribe`) and score it against utterance.txt."""
    import jiwer

    from centaurus.audio import load_audio
    from centaurus.data import normalize_text
    from centaurus.streaming.transcribe import Transcriber
    _, network = _load(model, "asr")
    transcriber = Transcriber(network, device=device)
    transcriber.push(load_audio(samples / "utterance.flac", sample_rate=SAMPLE_RATE))
    hypothesis = transcriber.finish()
    reference = normalize_text((samples / "utterance.txt").read_text())
    return Outcome([("input", "utterance.flac"), ("hypothesis", hypothesis or "(empty)"), ("reference", reference),
                    ("CER", f"{jiwer.cer(reference, hypothesis):.3f}"),
                    ("speed", f"RTF {transcriber.report().rtf:.3f}")])


def mini_step(chunk_ms: float = 10.0, seconds: float = 2.0) -> Outcome:
    """Stream a chirp through an untrained MiniCentaur chunk by chunk; it must equal one-shot processing."""
    import torch

    from centaurus import set_run_mode
    from centaurus.models import MiniCentaur
    torch.manual_seed(0)
    model = MiniCentaur().eval()
    t = torch.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    signal = torch.sin(2 * torch.pi * (100 + 1900 * t / seconds) * t)[None, None]   # 100 Hz → 2 kHz
    chunk = round(chunk_ms * SAMPLE_RATE / 1000)
    with torch.no_grad():
        one_shot = model(signal)
        set_run_mode(model, "inference")
        start = time.perf_counter()
        streamed = torch.cat([model(piece) for piece in signal.split(chunk, dim=-1)], dim=-1)
        rtf = (time.perf_counter() - start) / seconds
    same = streamed.shape == one_shot.shape and torch.allclose(streamed, one_shot, atol=1e-5)
    return Outcome([("signal", f"{seconds:g} s chirp, {chunk_ms:g} ms chunks"),
                    ("frames one-shot / streamed", f"{one_shot.shape[-1]} / {streamed.shape[-1]}"),
                    ("max |streamed − one-shot|", f"{(streamed - one_shot).abs().max().item():.2e}"),
                    ("speed", f"RTF {rtf:.3f}")], None if same else "streamed output differs from one-shot")


def _run(step: Callable[[], Outcome]) -> Outcome:
    """A step's outcome; an error of the library (or a model it cannot use) becomes the step's one-line problem."""
    from centaurus.errors import CentaurusError
    try:
        return step()
    except (CentaurusError, ValueError) as err:
        return Outcome(problem=str(err))


def _summary(outcomes: dict[str, Outcome], title: str) -> Table:
    """One section per step: its rows, then its status."""
    table = Table(title=title)
    for column in ("step", "", "result"):
        table.add_column(column)
    for name, outcome in outcomes.items():
        rows = [(label, escape(value)) for label, value in outcome.rows]
        rows.append(("status", "[red]FAILED[/] (see below)" if outcome.problem else "ok"))
        for k, (label, value) in enumerate(rows):
            table.add_row(name if k == 0 else "", label, value, end_section=k == len(rows) - 1)
    return table


def demo(out: Path = OUT,
         denoiser: str = typer.Option("denoise-offline", help="Shipped denoiser name or checkpoint folder."),
         kws: str = typer.Option("kws-offline", help="Shipped keyword spotter name or checkpoint folder."),
         asr: str = typer.Option("asr-offline", help="Shipped CTC model name or checkpoint folder."),
         device: str = typer.Option("cpu", help="cpu, cuda or auto."),
         mini: bool = typer.Option(False, "--mini", help="Only check that MiniCentaur streams exactly.")) -> None:
    """Denoise, spot keywords and transcribe the bundled samples with the shipped models, and print a summary."""
    from centaurus.errors import CentaurusError
    samples = samples_dir()
    if out.resolve() == samples.resolve():
        raise CentaurusError(f"{out}: is the bundled samples folder; choose another output folder")
    if out.exists() and not out.is_dir():
        raise CentaurusError(f"{out}: exists and is not a folder")
    if mini:
        steps = {"streaming": mini_step}
    else:
        from centaurus.training import resolve_device
        target = str(resolve_device(device))
        out.mkdir(parents=True, exist_ok=True)
        steps = {"denoise": lambda: denoise_step(denoiser, samples, out, target),
                 "kws": lambda: kws_step(kws, samples, target), "asr": lambda: asr_step(asr, samples, target)}
    outcomes = {name: _run(step) for name, step in steps.items()}
    Console().print(_summary(outcomes, "Centaurus demo" + ("" if mini else f": bundled samples in {samples}")))
    failed = {name: outcome.problem for name, outcome in outcomes.items() if outcome.problem}
    for name, problem in failed.items():
        typer.echo(f"error: {name}: {problem}", err=True)
    if failed:
        raise typer.Exit(1)
