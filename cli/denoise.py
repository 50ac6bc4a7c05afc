"""`centaurus denoise {IN... | --mic [--seconds S] [--play]} [-o OUT] [--model NAME|PATH] [--chunk-ms N]
[--device ...] [--engine ...] [--force]`."""
import glob
import importlib.util
from functools import partial
from pathlib import Path

import typer
from centaurus_cli.live import live_blocks

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


MIC_OUTPUT = Path("mic.denoised.wav")


def denoise(inputs: list[str] | None = typer.Argument(None, help="Audio files, folders or globs."),
            output: Path | None = typer.Option(None, "-o", "--output",
                                               help="Output file, or folder for several inputs "
                                                    f"(default: IN.denoised.wav beside each input; {MIC_OUTPUT} "
                                                    "with --mic)."),
            mic: bool = typer.Option(False, "--mic", help="Denoise the default microphone, live, instead of files."),
            seconds: float | None = typer.Option(None, min=0, help="With --mic: stop after this many seconds "
                                                                   "(default: at Ctrl-C)."),
            play: bool = typer.Option(False, "--play", help="With --mic: also play the denoised audio on the "
                                                            "default output device as it is produced."),
            model: str = typer.Option("denoise-offline", help="Shipped model name or checkpoint folder (or, with "
                                                              "--engine onnx, an exported .onnx step)."),
            chunk_ms: float = typer.Option(16.0, help="Streaming chunk length in milliseconds."),
            device: str = typer.Option("cpu", help="cpu, cuda or auto."),
            engine: str = typer.Option("auto", help="onnx: the model's exported step in onnxruntime, without "
                                                    "torch (CPU, a tenth of the memory); torch; or auto: onnx "
                                                    "where the model has a step for --chunk-ms and the device "
                                                    "is the CPU, else torch."),
            force: bool = typer.Option(False, help="Overwrite existing outputs (never the inputs).")) -> None:
    """Denoise recordings through the streaming model (the output keeps each input's sample rate), or the
    microphone live into a 16 kHz file and, with --play, the speakers."""
    from centaurus.errors import CentaurusError
    from centaurus.streaming.enhance import enhance_stream
    if mic == bool(inputs):
        raise typer.BadParameter("give either IN... or --mic")
    if (seconds is not None or play) and not mic:
        raise typer.BadParameter("--seconds and --play only apply to --mic")
    if engine not in ("auto", "torch", "onnx"):
        raise CentaurusError(f"--engine {engine}: use auto, torch or onnx")
    if engine == "auto":
        engine = "onnx" if device == "cpu" and _has_onnx_step(model, chunk_ms) else "torch"
    if engine == "onnx" and device != "cpu":
        raise CentaurusError(f"--device {device}: the onnx engine runs on the CPU")
    sources = [] if mic else _expand(inputs)
    plan = [(source, _target(source, output, len(sources) > 1)) for source in sources]
    mic_target = output or MIC_OUTPUT
    for target in [target for _, target in plan] + ([mic_target] if mic else []):
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
    if mic:
        _denoise_mic(new_stream(), mic_target, seconds=seconds, play=play, chunk_ms=chunk_ms, engine=engine)
    for source, target in plan:
        report = enhance_stream(new_stream(), source, target)
        _summary(str(source), target, report, engine)


def _summary(source: str, target: Path, report, engine: str) -> None:
    typer.echo(f"{source} -> {target}  ({report.audio_seconds:.1f} s, RTF {report.rtf:.3f}, "
               f"latency {report.algorithmic_latency_ms:.1f} ms, {engine})")


def _denoise_mic(stream, target: Path, *, seconds: float | None, play: bool, chunk_ms: float, engine: str) -> None:
    """The default microphone through `stream` into `target` (and the default speakers) until the time limit
    or Ctrl-C."""
    from contextlib import nullcontext

    from centaurus.streaming.enhance import enhance_live
    from centaurus.streaming.mic import Microphone
    from centaurus.streaming.speaker import Speaker
    with Microphone(block_ms=chunk_ms) as source, live_blocks(source, seconds) as blocks, \
            (Speaker(block_ms=chunk_ms) if play else nullcontext()) as speaker:
        heard_on = f"; playing on {speaker.device_name}" if speaker is not None else ""
        typer.echo(f"listening on {source.device_name}{heard_on}; Ctrl-C stops", err=True)
        report = enhance_live(stream, blocks, target, speaker=speaker)
    _summary("mic", target, report, engine)
    dropped = f"{source.overflows} input overflow(s)" + (f", {speaker.underruns} output underrun(s)" if play else "")
    typer.echo(f"mic: {dropped}", err=True)
