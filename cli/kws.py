"""`centaurus kws detect FILE...` and `centaurus kws listen`: keyword detections with timestamps, in recordings of
any length or live from a microphone."""
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from centaurus_cli.live import live_blocks

if TYPE_CHECKING:
    from centaurus.streaming import Detection, KeywordSpotter, OnnxKeywordSpotter

kws_app = typer.Typer(help="Keyword spotting on recordings and live input.", no_args_is_help=True)

FILES = typer.Argument(..., help="Recordings (any format, rate or channel count).")
# The spotter's options, shared by both commands.
MODEL = typer.Option("kws-offline", help="Shipped model name or checkpoint folder.")
KEYWORDS = typer.Option(None, help="Comma-separated keywords (default: all words).")
THRESHOLD = typer.Option(None, help="Smoothed probability at which a keyword fires, for every keyword (default: "
                                     "the model's calibrated per-keyword thresholds where it stores them, else 0.8).")
REFRACTORY = typer.Option(1.0, help="Seconds after a detection during which none fires.")
CONTEXT = typer.Option("window", help="'window': each posterior from a zero state (clip-trained models); "
                                      "'stream': carried state (stream-trained models).")
CHUNK_MS = typer.Option(40.0, help="Streaming chunk length in milliseconds.")
DEVICE = typer.Option("cpu", help="cpu, cuda or auto.")
ENGINE = typer.Option("auto", help="onnx: the model's exported window step in onnxruntime, without torch (CPU, "
                                   "--context window); torch; or auto: onnx where the model has that step, the "
                                   "device is the CPU and the context 'window', else torch.")


def _spotter(model: str, keywords: str | None, threshold: float | None, refractory: float, context: str,
             chunk_ms: float, device: str, engine: str = "auto") -> "KeywordSpotter | OnnxKeywordSpotter":
    """The spotter for a model name, folder or window step, on the engine asked for (torch is imported only
    for the torch engine); a bad keyword or context is a bad parameter. `threshold` None: the model's stored
    per-keyword thresholds, else the default."""
    from centaurus.errors import CentaurusError
    from centaurus.streaming.spotting import stored_thresholds, window_step_path
    from centaurus.tasks.detection import DEFAULT_THRESHOLD
    if engine not in ("auto", "torch", "onnx"):
        raise CentaurusError(f"--engine {engine}: use auto, torch or onnx")
    step = window_step_path(model) if engine != "torch" else None
    if engine == "auto":
        engine = "onnx" if step is not None and device == "cpu" and context == "window" else "torch"
    wanted = [k.strip() for k in keywords.split(",")] if keywords else None
    if threshold is None:
        threshold = stored_thresholds(model) or DEFAULT_THRESHOLD
    try:
        if engine == "onnx":
            if device != "cpu" or context != "window":
                raise CentaurusError("the onnx engine runs the 'window' context on the CPU")
            if step is None:
                raise CentaurusError(f"{model}: no ONNX window step; make one with `centaurus export {model}`")
            from centaurus.streaming.spotting import OnnxKeywordSpotter
            return OnnxKeywordSpotter(step, keywords=wanted, threshold=threshold, refractory_s=refractory)
        from centaurus_cli.devices import torch_device

        from centaurus.streaming import KeywordSpotter
        from centaurus.training import load_model, resolve_checkpoint
        target = torch_device(device)
        _, task, network, _ = load_model(resolve_checkpoint(model))
        return KeywordSpotter(network, task.classes, keywords=wanted, threshold=threshold, refractory_s=refractory,
                              context=context, chunk_ms=chunk_ms, device=target)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from None


class _Detector:
    """Spots keywords in one file a call, in this process or in a worker, which makes its own spotter."""

    def __init__(self, *options):
        self.options, self.spotter = options, None

    def __getstate__(self):
        return {"options": self.options, "spotter": None}

    def __call__(self, path: Path) -> "tuple[Path, list[Detection]]":
        from centaurus.audio import SAMPLE_RATE, iter_samples
        if self.spotter is None:
            self.spotter = _spotter(*self.options)
        self.spotter.reset()
        found = []
        for block in iter_samples(path, block_samples=10 * SAMPLE_RATE, sample_rate=SAMPLE_RATE):
            found += self.spotter.push(block)
        return path, found + self.spotter.flush()


@kws_app.command()
def detect(files: list[Path] = FILES, model: str = MODEL, keywords: str | None = KEYWORDS, threshold: float | None = THRESHOLD,
           refractory: float = REFRACTORY, context: str = CONTEXT, chunk_ms: float = CHUNK_MS,
           device: str = DEVICE, engine: str = ENGINE,
           jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="Files spotted at once, by worker "
                                                                           "processes of one thread each "
                                                                           "(default: every core).")) -> None:
    """Stream each file through the keyword spotter and print one line per detection, file by file in the
    order given."""
    from contextlib import closing

    from centaurus.streaming.folders import default_jobs, one_thread_each, run_files
    detector = _Detector(model, keywords, threshold, refractory, context, chunk_ms, device, engine)
    detector.spotter = _spotter(*detector.options)  # a bad model or keyword fails once, here
    if len(files) > 1:
        one_thread_each()
    waiting, printed = {}, 0
    try:
        with closing(run_files(detector, files, jobs=jobs or default_jobs())) as results:
            for path, found in results:
                waiting[path] = found
                while printed < len(files) and files[printed] in waiting:
                    _print_file(files[printed], waiting.pop(files[printed]))
                    printed += 1
    except KeyboardInterrupt:
        typer.echo(f"interrupted: {printed} of {len(files)} file(s) done", err=True)
        raise SystemExit(130) from None


def _print_file(path: Path, found: "list[Detection]") -> None:
    for d in found:
        typer.echo(f"{path}\t{d.time_s:8.2f} s\t{d.keyword}\t{d.confidence:.2f}")
    typer.echo(f"{path}: {len(found)} detection(s)")


@kws_app.command()
def listen(model: str = MODEL, keywords: str | None = KEYWORDS, threshold: float | None = THRESHOLD,
           refractory: float = REFRACTORY, context: str = CONTEXT, chunk_ms: float = CHUNK_MS,
           device: str = DEVICE, engine: str = ENGINE,
           input_device: int | None = typer.Option(None, help="Input device index (see --list-devices); "
                                                              "default: the system's default input."),
           seconds: float | None = typer.Option(None, min=0, help="Stop after this many seconds of audio "
                                                                  "(default: run until Ctrl-C)."),
           list_devices: bool = typer.Option(False, "--list-devices", help="Print the input devices and exit.")
           ) -> None:
    """Spot keywords live from a microphone; print each detection (seconds since start) as it happens."""
    from centaurus.streaming.mic import Microphone
    from centaurus.streaming.mic import list_devices as input_devices
    if list_devices:
        for d in input_devices():
            mark = "*" if d.is_default else " "
            typer.echo(f"{d.index:3d}{mark} {d.name}\t{d.channels} in\t{d.default_rate} Hz")
        return
    mic = Microphone(input_device, block_ms=chunk_ms)  # checks the device before the slower model load
    spotter = _spotter(model, keywords, threshold, refractory, context, chunk_ms, device, engine)
    found = 0
    with mic, live_blocks(mic, seconds) as blocks:
        typer.echo(f"listening on {mic.device_name} ({mic.capture_rate} Hz, {mic.capture_channels} channel(s)); "
                   f"Ctrl-C stops")
        for block in blocks:
            found += _print(spotter.push(block))
    found += _print(spotter.flush())  # a word cut off by the stop gets half a window of silence to centre in
    typer.echo(f"{found} detection(s) in {mic.seconds:.1f} s; {mic.overflows} input overflow(s)")


def _print(detections: "list[Detection]") -> int:
    """One line per live detection (typer.echo flushes, so a reader sees it at once); returns how many."""
    for d in detections:
        typer.echo(f"{d.time_s:8.2f} s\t{d.keyword}\t{d.confidence:.2f}")
    return len(detections)


@kws_app.command()
def calibrate(model: str = typer.Argument(..., help="Checkpoint folder or shipped name; its config.json gets the "
                                                    "thresholds."),
              negatives: Path = typer.Option(..., help="Folder of recordings that hold no keyword (an hour or "
                                                       "more), each streamed as `kws listen` streams."),
              positives: Path | None = typer.Option(None, help="Keyword clips, a folder per keyword (Speech "
                                                               "Commands layout; only the clips of its "
                                                               "testing_list.txt where it has one): miss rates."),
              target_fa_per_hour: float = typer.Option(0.5, min=0, help="False accepts per hour allowed on the "
                                                                        "negatives, split evenly over the "
                                                                        "keywords."),
              per_keyword: bool = typer.Option(False, "--per-keyword", help="Allow the whole target to each "
                                                                            "keyword instead."),
              floor: float = typer.Option(0.5, min=0.01, max=0.99, help="No threshold below this."),
              refractory: float = REFRACTORY, engine: str = ENGINE,
              det: Path | None = typer.Option(None, help="Also draw the DET curve (one threshold for all) here "
                                                         "(PNG)."),
              dry_run: bool = typer.Option(False, "--dry-run", help="Measure and print; store nothing.")) -> None:
    """Pick each keyword's threshold for a false-accept target on real audio without keywords, and store them
    in the model (config.json), where `kws detect` and `kws listen` use them unless --threshold is given."""
    from centaurus.streaming.calibrate import negative_scores, positive_scores, store_thresholds
    from centaurus.tasks.detection import calibrate_thresholds, det_curve, false_accepts, misses
    from centaurus.training.pretrained import resolve_checkpoint
    folder = Path(model).parent if model.endswith(".onnx") else resolve_checkpoint(model)
    spotter = _spotter(model, None, None, refractory, "window", CHUNK_MS.default, "cpu", engine)
    typer.echo(f"streaming the negatives in {negatives} ...", err=True)
    negative = negative_scores(spotter, negatives)
    positive = positive_scores(spotter, positives) if positives else []
    before_fa, before_miss = false_accepts(negative, spotter.decisions), misses(positive, spotter.decisions)
    found = calibrate_thresholds(positive, negative, spotter.decisions, target_fa_per_hour=target_fa_per_hour,
                                 per_keyword=per_keyword, floor=floor)
    typer.echo(f"negatives: {len(negative)} recording(s), {before_fa.hours:.3f} h; positives: {len(positive)} clip(s)")
    for name, fa, miss in (("as the model stands", before_fa, before_miss),
                           (f"calibrated for {target_fa_per_hour:g} FA/h", found.false_accepts, found.misses)):
        missed = f"; missed {miss.missed} of {miss.clips} clip(s)" if positive else ""
        typer.echo(f"{name}: {fa.per_hour:.2f} false accepts per hour ({fa.count}){missed}")
    typer.echo("thresholds: " + " ".join(f"{k}={v:.2f}" for k, v in found.thresholds.items()))
    over = [k for k, ok in found.reached.items() if not ok]
    if over:
        typer.echo(f"over their share even at the ceiling: {', '.join(over)}")
    if det is not None:
        from centaurus.tasks.plots import plot_det
        marks = {"calibrated": (found.false_accepts.per_hour, found.misses.rate if found.misses else 0.0)}
        typer.echo(f"DET curve: {plot_det(det_curve(positive, negative, spotter.decisions), det, marks=marks)}")
    if not dry_run:
        info = {"target_fa_per_hour": target_fa_per_hour, "per_keyword": per_keyword, "floor": floor,
                "negatives": str(negatives), "negative_hours": round(found.false_accepts.hours, 4),
                "false_accepts_per_hour": round(found.false_accepts.per_hour, 4)}
        if found.misses:
            info.update(positives=str(positives), positive_clips=found.misses.clips,
                        miss_rate=round(found.misses.rate, 4))
        typer.echo(f"stored in {store_thresholds(folder, found.thresholds, info)}")


@kws_app.command("train-keyword")
def train_keyword(phrase: str = typer.Argument(..., help="The word or phrase to spot, e.g. \"hey computer\"."),
                  out: Path = typer.Option(..., help="Checkpoint folder to write (for kws detect/listen --model)."),
                  pools: Path | None = typer.Option(None, help="Pools folder (`centaurus data pools`): real speech "
                                                               "and TTS words as negatives, real noise. Default: "
                                                               "data/pools when it exists."),
                  cache: Path | None = typer.Option(None, help="Where synthesised clips are cached "
                                                               "(default ~/.cache/centaurus/keywords)."),
                  size: str = typer.Option("default", help="default, or tiny (a smoke test)."),
                  engines: str | None = typer.Option(None, help="Comma-separated TTS engines to use (default: every "
                                                                "one installed: kokoro, piper, mbrola, pico, flite, "
                                                                "festival, espeak)."),
                  target_fa: float = typer.Option(1.0, "--target-fa", min=0,
                                                  help="False accepts per hour the threshold is set for."),
                  seed: int = typer.Option(0, help="Seed."),
                  device: str = typer.Option("cpu", help="cpu, cuda or auto."),
                  force: bool = typer.Option(False, help="Replace a model already in --out.")) -> None:
    """Train a spotter for any phrase from synthetic voices alone: synthesis, training on the mixing engine,
    threshold calibration, ONNX export, with progress."""
    import os

    from centaurus.data.keyword import default_plans
    from centaurus.errors import CentaurusError
    from centaurus.training.keyword import SIZES
    from centaurus.training.keyword import train_keyword as run
    plans = (default_plans(kokoro_blends=SIZES[size].kokoro_blends, near_miss_count=SIZES[size].near_misses)
             if size in SIZES else None)
    if engines and plans is not None:
        wanted = {e.strip() for e in engines.split(",") if e.strip()}
        unknown = wanted - {p.engine for p in plans}
        if unknown:
            raise CentaurusError(f"--engines: unknown engine {sorted(unknown)[0]!r}; one of "
                                 f"{', '.join(p.engine for p in plans)}")
        plans = [p for p in plans if p.engine in wanted]
    default_pools = Path("data/pools")
    kokoro = os.environ.get("KOKORO_JA_CACHE")
    root = pools if pools is not None else default_pools if default_pools.is_dir() else None
    if kokoro is None and root is not None and (root / "kokoro-cache").is_dir():
        kokoro = str(root / "kokoro-cache")  # where `centaurus data pools` keeps Kokoro's pieces
    summary = run(phrase, out, pool_root=root, cache=cache, size=size, plans=plans, kokoro_cache=kokoro,
                  target_fa_per_hour=target_fa, seed=seed, device=device, force=force)
    typer.echo(f"{out}: spots {summary['keyword']!r} at threshold {summary['threshold']:.2f} "
               f"(validation accuracy {summary['validation_accuracy']:.3f}); {summary['seconds'] / 60:.1f} min, "
               f"CPU {summary['cpu_seconds'] / 60:.1f} min in this process; try: centaurus kws detect FILE --model {out}")
