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


def _load(model: str, task_name: str, device: str):
    """(task, network) of a shipped model name or checkpoint folder for the torch engine on `device`, refusing a
    model made for another task."""
    from centaurus_cli.devices import torch_device

    from centaurus.errors import CheckpointError
    from centaurus.training import load_model, resolve_checkpoint
    torch_device(device)
    path = resolve_checkpoint(model)
    _, task, network, _ = load_model(path)
    if task.name != task_name:
        raise CheckpointError(f"{path}: is a '{task.name}' model, not '{task_name}'")
    return task, network


def _step(model: str, name: str, engine: str, task_name: str) -> Path | None:
    """The model's exported step `name` where the engine is ONNX (`auto`: where the model has one), else None.
    A step made for another task is refused, as `_load` refuses such a model."""
    from centaurus.errors import CheckpointError
    from centaurus.training import resolve_checkpoint
    if engine == "torch":
        return None
    path = resolve_checkpoint(model) / name
    if not path.is_file():
        if engine == "onnx":
            raise CheckpointError(f"{path}: no such ONNX step; make it with `centaurus export {model}`")
        return None
    from centaurus.streaming.onnx_step import open_session
    made_for = open_session(path).get_modelmeta().custom_metadata_map.get("task", task_name)
    if made_for != task_name:
        raise CheckpointError(f"{path}: is a '{made_for}' step, not '{task_name}'")
    return path


def _read(path: Path) -> np.ndarray:
    """A whole recording as 16 kHz mono float32 (arrays: no torch)."""
    from centaurus.audio import iter_samples
    return np.concatenate([np.zeros(0, dtype=np.float32),
                           *iter_samples(path, block_samples=10 * SAMPLE_RATE, sample_rate=SAMPLE_RATE)])


def _scores(clean: np.ndarray, wav: np.ndarray) -> tuple[str, str, str]:
    """PESQ-WB ('n/a' where PESQ finds no speech), STOI and SI-SDR (dB) of a (L,) signal against `clean`, in
    NumPy (the denoising task's `speech_scores` computes SI-SDR with torch)."""
    from pesq import PesqError, pesq
    from pystoi import stoi
    pesq_wb = pesq(SAMPLE_RATE, clean, wav, "wb", on_error=PesqError.RETURN_VALUES)
    reference, estimate = clean - clean.mean(), wav - wav.mean()
    target = (estimate @ reference) / (reference @ reference + 1e-8) * reference
    eps = 1e-8
    si_sdr = 10 * np.log10(max(target @ target, eps) / max((estimate - target) @ (estimate - target), eps))
    return (f"{pesq_wb:.2f}" if pesq_wb >= -0.5 else "n/a", f"{stoi(clean, wav, SAMPLE_RATE, extended=False):.2f}",
            f"{si_sdr:.1f}")


def denoise_step(model: str, samples: Path, out: Path, device: str = "cpu", engine: str = "auto") -> Outcome:
    """Denoise noisy_speech.flac into OUT, plot noisy/enhanced/clean spectrograms and score both against clean."""
    from centaurus.streaming.enhance import enhance_file, enhance_stream
    from centaurus.tasks.plots import plot_spectrograms
    noisy, target = samples / "noisy_speech.flac", out / "noisy_speech.denoised.wav"
    step = _step(model, "stream-16ms.onnx", engine, "denoise")
    if step is not None:
        from centaurus.streaming.onnx_step import OnnxStreamer
        report = enhance_stream(OnnxStreamer(step), noisy, target, progress=False)
    else:
        _, network = _load(model, "denoise", device)
        report = enhance_file(network, noisy, target, device=device, progress=False)
    waves = {name: _read(path) for name, path in (("noisy", noisy), ("enhanced", target),
                                                  ("clean", samples / "clean_speech.flac"))}
    with np.errstate(divide="ignore"):  # digital silence has no log power; matplotlib plots it at the floor anyway
        png = plot_spectrograms(waves, out / "spectrograms.png", sample_rate=SAMPLE_RATE)
    before, after = _scores(waves["clean"], waves["noisy"]), _scores(waves["clean"], waves["enhanced"])
    scores = " · ".join(f"{name} {b} → {a}" for name, b, a in zip(("PESQ-WB", "STOI", "SI-SDR"), before, after))
    return Outcome([("input", noisy.name), ("enhanced", str(target)), ("spectrograms", str(png)),
                    ("noisy → enhanced", f"{scores} dB"),
                    ("speed", f"RTF {report.rtf:.3f}, latency {report.algorithmic_latency_ms:.1f} ms")])


def kws_step(model: str, samples: Path, device: str = "cpu", engine: str = "auto") -> Outcome:
    """Spot keywords in keywords.flac; the step fails unless exactly the words of keywords.txt are found, in order."""
    from centaurus.streaming.spotting import WINDOW_STEP
    audio = _read(samples / "keywords.flac")
    expected = (samples / "keywords.txt").read_text().split()
    step = _step(model, WINDOW_STEP, engine, "kws")
    if step is not None:
        from centaurus.streaming.spotting import OnnxKeywordSpotter
        spotter = OnnxKeywordSpotter(step)
    else:
        from centaurus.streaming import KeywordSpotter
        task, network = _load(model, "kws", device)
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


def asr_step(model: str, samples: Path, device: str = "cpu", engine: str = "auto") -> Outcome:
    """Transcribe utterance.flac (greedy CTC, as `centaurus transcribe`) and score it against utterance.txt."""
    import jiwer

    from centaurus.data import normalize_text
    from centaurus.streaming.transcribe import Transcriber
    step = _step(model, "stream-40ms.onnx", engine, "asr")
    if step is not None:
        from centaurus.streaming.onnx_step import OnnxStreamer
        transcriber = Transcriber(OnnxStreamer(step))
    else:
        _, network = _load(model, "asr", device)
        transcriber = Transcriber(network, device=device)
    transcriber.push(_read(samples / "utterance.flac"))
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
         engine: str = typer.Option("auto", help="onnx: the models' exported steps in onnxruntime, without torch "
                                                 "(CPU); torch; or auto: onnx for each model that has its step "
                                                 "where the device is the CPU, else torch."),
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
        if engine not in ("auto", "torch", "onnx"):
            raise CentaurusError(f"--engine {engine}: use auto, torch or onnx")
        if device != "cpu":
            if engine == "onnx":
                raise CentaurusError(f"--device {device}: the onnx engine runs on the CPU")
            from centaurus.training import resolve_device
            device, engine = str(resolve_device(device)), "torch"
        out.mkdir(parents=True, exist_ok=True)
        steps = {"denoise": lambda: denoise_step(denoiser, samples, out, device, engine),
                 "kws": lambda: kws_step(kws, samples, device, engine),
                 "asr": lambda: asr_step(asr, samples, device, engine)}
    outcomes = {name: _run(step) for name, step in steps.items()}
    Console().print(_summary(outcomes, "Centaurus demo" + ("" if mini else f": bundled samples in {samples}")))
    failed = {name: outcome.problem for name, outcome in outcomes.items() if outcome.problem}
    for name, problem in failed.items():
        typer.echo(f"error: {name}: {problem}", err=True)
    if failed:
        raise typer.Exit(1)
