"""`centaurus denoise IN... [-o OUT] [--model NAME|PATH] [--chunk-ms N] [--device ...] [--force]`."""
import glob
import importlib.util
from functools import partial
from pathlib import Path

import typer

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}


def _expand(inputs: list[str]) -> list[Path]:
    """Files, folders (searched recursively for audio) and globs, in a stable order without repeats."""
    from centaurus.errors import AudioError
    found: list[Path] = []
    for item in inputs:
        matches = [Path(m) for m in sorted(glob.glob(item, recursive=True))] or [Path(item)]
        for path in matches:
            if path.is_dir():
                found += sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            elif path.exists():
                found.append(path)
            else:
                raise AudioError(f"{path}: no such file, folder or match")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise AudioError(f"{' '.join(inputs)}: no audio files found")
    return unique


def _target(source: Path, output: Path | None, many: bool) -> Path:
    name = f"{source.stem}.denoised.wav"
    if output is None:
        return source.with_name(name)
    if many or output.is_dir() or output.suffix == "":
        output.mkdir(parents=True, exist_ok=True)
        return output / name
    return output


def _has_onnx_step(model: str, chunk_ms: float) -> bool:
    """Whether `model` ships an exported step for `chunk_ms` that an installed onnxruntime can run."""
    from centaurus.errors import CheckpointError
    from centaurus.streaming.onnx_step import step_path
    try:
        step_path(model, chunk_ms)
    except CheckpointError:  # no step, or no such model: the torch path reports the latter
        return False
    return importlib.util.find_spec("onnxruntime") is not None


def denoise(inputs: list[str] = typer.Argument(..., help="Audio files, folders or globs."),
            output: Path | None = typer.Option(None, "-o", "--output",
                                               help="Output file, or folder for several inputs "
                                                    "(default: IN.denoised.wav beside each input)."),
            model: str = typer.Option("denoise-offline", help="Shipped model name or checkpoint folder (or, with "
                                                              "--engine onnx, an exported .onnx step)."),
            chunk_ms: float = typer.Option(16.0, help="Streaming chunk length in milliseconds."),
            device: str = typer.Option("cpu", help="cpu, cuda or auto."),
            engine: str = typer.Option("auto", help="onnx: the model's exported step in onnxruntime, without "
                                                    "torch (CPU, a tenth of the memory); torch; or auto: onnx "
                                                    "where the model has a step for --chunk-ms and the device "
                                                    "is the CPU, else torch."),
            force: bool = typer.Option(False, help="Overwrite existing outputs (never the inputs).")) -> None:
    """Denoise recordings through the streaming model; the output keeps each input's sample rate."""
    from centaurus.errors import CentaurusError
    from centaurus.streaming.enhance import enhance_stream
    if engine not in ("auto", "torch", "onnx"):
        raise CentaurusError(f"--engine {engine}: use auto, torch or onnx")
    if engine == "auto":
        engine = "onnx" if device == "cpu" and _has_onnx_step(model, chunk_ms) else "torch"
    if engine == "onnx" and device != "cpu":
        raise CentaurusError(f"--device {device}: the onnx engine runs on the CPU")
    sources = _expand(inputs)
    plan = [(source, _target(source, output, len(sources) > 1)) for source in sources]
    for source, target in plan:
        if target.resolve() in sources:
            raise CentaurusError(f"{target}: is an input; choose another output")
        if target.exists() and not force:
            raise CentaurusError(f"{target}: exists; pass --force to overwrite it")
    if engine == "onnx":
        from centaurus.streaming.onnx_step import OnnxStreamer, step_path
        step = step_path(model, chunk_ms)
        new_stream = partial(OnnxStreamer, step)
    else:
        from centaurus.streaming import Streamer
        from centaurus.training import load_model, resolve_checkpoint, resolve_device
        _, _, network, _ = load_model(resolve_checkpoint(model))
        new_stream = partial(Streamer, network, chunk_ms=chunk_ms, device=str(resolve_device(device)))
    for source, target in plan:
        report = enhance_stream(new_stream(), source, target)
        typer.echo(f"{source} -> {target}  ({report.audio_seconds:.1f} s, RTF {report.rtf:.3f}, "
                   f"latency {report.algorithmic_latency_ms:.1f} ms, {engine})")
