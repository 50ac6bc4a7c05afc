"""`centaurus denoise {IN... | --mic [--seconds S] [--play]} [-o OUT] [--model NAME|PATH] [--chunk-ms N]
[--device ...] [--engine ...] [--force] [--jobs N] [--normalize] [--channels mix|each]`."""
import functools
import glob
import time
from contextlib import closing
from functools import partial
from pathlib import Path

import typer
from centaurus_cli.live import live_blocks

from centaurus.atomic import remove_temporaries
from centaurus.streaming.folders import default_jobs

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


def _has_onnx_step(model: str, chunk_ms: float | None, live: bool) -> bool:
    """Whether `model` ships the exported step `denoise` would run (onnxruntime, which runs it, is a core
    dependency)."""
    from centaurus.errors import CheckpointError
    from centaurus.streaming.onnx_step import pick_step
    try:
        pick_step(model, "denoise", chunk_ms, live=live)
    except CheckpointError:  # no step, or no such model: the torch path reports the latter
        return False
    return True


MIC_OUTPUT = Path("mic.denoised.wav")


def denoise(inputs: list[str] | None = typer.Argument(None, help="Audio files, folders or globs."),
            output: Path | None = typer.Option(None, "-o", "--output",
                                               help="Output file, or folder for several inputs "
                                                    f"(default: IN.denoised.wav beside each input; {MIC_OUTPUT} "
                                                    "with --mic). Missing folders are created."),
            mic: bool = typer.Option(False, "--mic", help="Denoise the default microphone, live, instead of files."),
            seconds: float | None = typer.Option(None, min=0, help="With --mic: stop after this many seconds "
                                                                   "(default: at Ctrl-C)."),
            play: bool = typer.Option(False, "--play", help="With --mic: also play the denoised audio on the "
                                                            "default output device as it is produced."),
            model: str = typer.Option("denoise-offline", help="Shipped model name or checkpoint folder (or, with "
                                                              "--engine onnx, an exported .onnx step)."),
            chunk_ms: float | None = typer.Option(None, help="Streaming chunk length in milliseconds. Default: 16 "
                                                             "live; for files the model's file step (256 ms "
                                                             "chunks, same output, several times faster) where "
                                                             "the onnx engine runs one, else 16."),
            device: str = typer.Option("cpu", help="cpu, cuda or auto."),
            engine: str = typer.Option("auto", help="onnx: the model's exported step in onnxruntime, without "
                                                    "torch (CPU, a tenth of the memory); torch; or auto: onnx "
                                                    "where the model has a step for the chunk and the device "
                                                    "is the CPU, else torch."),
            force: bool = typer.Option(False, help="Overwrite existing outputs (never the inputs)."),
            jobs: int | None = typer.Option(None, "--jobs", "-j", min=1,
                                            help="Files denoised at once, by worker processes of one thread each "
                                                 "(default: every core). With --device cuda the files go through "
                                                 "the GPU in padded batches instead."),
            normalize: bool = typer.Option(False, "--normalize",
                                           help="Scale each input to a peak of 0.99 before denoising (the output "
                                                "keeps that scale): for float files beyond ±1, which would clip, "
                                                "and quiet ones."),
            channels: str = typer.Option("mix", help="mix: a multichannel input is mixed down to mono (and said "
                                                     "so); each: every channel is denoised, all written in one "
                                                     "file.")) -> None:
    """Denoise recordings through the streaming model (the output keeps each input's sample rate), or the
    microphone live into a 16 kHz file and, with --play, the speakers. Ctrl-C during several files keeps
    those finished; a file being written never appears half-done."""
    from centaurus.errors import CentaurusError
    if mic == bool(inputs):
        raise typer.BadParameter("give either IN... or --mic")
    if (seconds is not None or play) and not mic:
        raise typer.BadParameter("--seconds and --play only apply to --mic")
    if engine not in ("auto", "torch", "onnx"):
        raise CentaurusError(f"--engine {engine}: use auto, torch or onnx")
    if channels not in ("mix", "each"):
        raise CentaurusError(f"--channels {channels}: use mix or each")
    if mic:
        chunk_ms = chunk_ms or 16.0  # the microphone's blocks, and the step's chunk
    if engine == "auto":
        engine = "onnx" if device == "cpu" and _has_onnx_step(model, chunk_ms, live=mic) else "torch"
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
    _make_folders([target for _, target in plan] + ([mic_target] if mic else []))
    many = len(plan) > 1
    if engine == "onnx":
        from centaurus.streaming.onnx_step import OnnxStreamer, pick_step
        step = pick_step(model, "denoise", chunk_ms, live=mic)
        new_stream = partial(OnnxStreamer, step, threads=1)  # one thread a file, one file a core
    else:
        chunk_ms = chunk_ms or 16.0
        from centaurus.training import resolve_checkpoint, resolve_device
        if not mic and many and resolve_device(device).type == "cuda":
            return _denoise_batched(model, plan, resolve_device(device), normalize=normalize, each=channels == "each")
        resolve_checkpoint(model)  # a bad name fails here, not in every worker
        new_stream = partial(_torch_stream, model, chunk_ms, device)
    if mic:
        _denoise_mic(new_stream(), mic_target, seconds=seconds, play=play, chunk_ms=chunk_ms, engine=engine)
    if plan:
        _denoise_files(_FileDenoiser(new_stream, normalize=normalize, each=channels == "each", keep_going=many),
                       plan, jobs=jobs or default_jobs(), engine=engine)


def _make_folders(targets: list[Path]) -> None:
    from centaurus.errors import CentaurusError
    for target in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CentaurusError(f"{target.parent}: cannot create the output folder ({err.strerror})") from None


@functools.lru_cache(maxsize=1)
def _network(model: str):
    from centaurus.training import load_model, resolve_checkpoint
    return load_model(resolve_checkpoint(model))[2]


def _torch_stream(model: str, chunk_ms: float, device: str):
    """A torch stream of `model` (loaded once a process); a top-level function, so worker processes get it."""
    from centaurus_cli.devices import torch_device

    from centaurus.streaming import Streamer
    return Streamer(_network(model), chunk_ms=chunk_ms, device=str(torch_device(device)))


def _notes_and_gain(source: Path, info, *, normalize: bool, each: bool) -> tuple[list[str], float]:
    """What to tell the user about `source` before denoising it, and the gain for its samples."""
    from centaurus.audio.files import peak_level
    notes, gain = [], 1.0
    if normalize or info.subtype in ("FLOAT", "DOUBLE"):  # only floats can pass ±1
        peak = peak_level(source)
        if normalize and peak > 0:
            gain = 0.99 / peak
        elif peak > 1:
            notes.append(f"{source}: float samples peak at {peak:.2f}, beyond ±1, so the output clips; "
                         "--normalize scales each input to a peak of 0.99")
    if info.channels > 1 and not each:
        notes.append(f"{source}: {info.channels} channels mixed down to mono; --channels each denoises each channel")
    return notes, gain


class _FileDenoiser:
    """Denoises one (source, target) pair a call, in this process or a worker; its streams (one, or one a
    channel with `each`) are made on first use and reset for every file. With `keep_going`, a bad file
    becomes an error in the result instead of stopping the others."""

    def __init__(self, new_stream, *, normalize: bool, each: bool, keep_going: bool):
        self.new_stream, self.normalize, self.each, self.keep_going = new_stream, normalize, each, keep_going
        self.progress, self.streams = True, []

    def __getstate__(self):  # a worker makes its own streams
        return {**self.__dict__, "streams": [], "progress": False}

    def __call__(self, item: tuple[Path, Path]):
        """-> (source, target, report or None, notes, error or None)"""
        from centaurus.audio.files import audio_info
        from centaurus.errors import CentaurusError
        from centaurus.streaming.enhance import enhance_stream
        source, target = item
        try:
            info = audio_info(source)
            notes, gain = _notes_and_gain(source, info, normalize=self.normalize, each=self.each)
            wanted = info.channels if self.each else 1
            while len(self.streams) < wanted:
                self.streams.append(self.new_stream())
            for stream in self.streams[:wanted]:
                stream.reset()
            streams = self.streams[:wanted] if self.each else self.streams[0]
            report = enhance_stream(streams, source, target, gain=gain, progress=self.progress)
            return source, target, report, notes, None
        except CentaurusError as err:
            if not self.keep_going:
                raise
            return source, target, None, [], str(err)


def _stamp(path: Path) -> int | None:
    """A file's modification time in ns, None if it does not exist."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _denoise_files(worker: _FileDenoiser, plan: list[tuple[Path, Path]], *, jobs: int, engine: str) -> None:
    """The plan through `worker`, `jobs` files at once; a summary of the lot for several files, and of what
    was done on Ctrl-C (exit 130)."""
    from centaurus.errors import CentaurusError
    from centaurus.streaming.folders import one_thread_each, run_files
    if len(plan) > 1:
        one_thread_each()
        worker.new_stream()  # a model that cannot load fails once, here
    done, failed, audio_seconds, start = 0, 0, 0.0, time.perf_counter()
    before = {target: _stamp(target) for _, target in plan}
    try:
        with closing(run_files(worker, plan, jobs=jobs)) as results:
            for source, target, report, notes, error in results:
                for note in notes:
                    typer.echo(note, err=True)
                if error is not None:
                    typer.echo(f"error: {error}", err=True)
                    failed += 1
                    continue
                _summary(str(source), target, report, engine)
                done, audio_seconds = done + 1, audio_seconds + report.audio_seconds
    except KeyboardInterrupt:
        # The workers are stopped by now; one killed mid-write, or a signal between creating a temporary and
        # guarding it, can leave a temporary behind: remove them. Then count what is on disk, since a file can be
        # renamed into place just before its result reaches this loop.
        for target in before:
            remove_temporaries(target)
        done = max(done, sum(_stamp(target) not in (None, before[target]) for target in before))
        typer.echo(f"interrupted: {done} of {len(plan)} file(s) done; none left half-written", err=True)
        raise SystemExit(130) from None
    if len(plan) > 1:
        wall = time.perf_counter() - start
        typer.echo(f"{done} of {len(plan)} files in {wall:.1f} s with {min(jobs, len(plan))} job(s): "
                   f"{done / wall:.2f} files/s, {audio_seconds / wall:.1f} audio-hours/hour")
    if failed:
        raise CentaurusError(f"{failed} of {len(plan)} files failed")


def _denoise_batched(model: str, plan: list[tuple[Path, Path]], device, *, normalize: bool, each: bool) -> None:
    """The files through the torch model one shot on `device`, in padded batches (`enhance_batches`), a
    group of files in memory at a time."""
    import numpy as np
    import soxr
    import torch

    from centaurus.audio import save_audio
    from centaurus.audio.files import SAMPLE_RATE, audio_info, iter_samples
    from centaurus.streaming.folders import enhance_batches
    from centaurus.training import load_model, resolve_checkpoint
    _, task, network, _ = load_model(resolve_checkpoint(model))
    network = network.to(device).eval()
    for first in range(0, len(plan), 64):
        group, rows = plan[first:first + 64], []
        for source, _ in group:
            info = audio_info(source)
            notes, gain = _notes_and_gain(source, info, normalize=normalize, each=each)
            for note in notes:
                typer.echo(note, err=True)
            audio = np.concatenate(list(iter_samples(source, block_samples=60 * SAMPLE_RATE, mix=not each,
                                                     gain=gain)))
            rows.append((info, [audio] if audio.ndim == 1 else list(audio.T)))
        signals = [np.ascontiguousarray(x) for _, channels in rows for x in channels]
        outputs = iter(enhance_batches(task, network, signals, device=device))
        for (source, target), (info, channels) in zip(group, rows):
            per_channel = [soxr.resample(next(outputs), SAMPLE_RATE, info.sample_rate) for _ in channels]
            out = np.stack([np.pad(x[:info.frames], (0, max(0, info.frames - len(x)))) for x in per_channel])
            save_audio(target, torch.from_numpy(out if each else out[0]), info.sample_rate)
            typer.echo(f"{source} -> {target}  ({info.duration:.1f} s, one shot in a batch on {device})")


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
