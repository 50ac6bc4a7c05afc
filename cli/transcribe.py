"""`centaurus transcribe {FILE... | --mic [--seconds S]} [--model NAME|PATH] [--beam N [--lm LM.json]]
[--chunk-ms N] [--device cpu|cuda|auto]`."""
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from centaurus_cli.live import live_blocks

from centaurus.audio import SAMPLE_RATE

if TYPE_CHECKING:
    import numpy as np

    from centaurus.streaming.transcribe import Transcriber

UPDATE_S = 0.5  # in logs a partial line comes at most once per this much audio (files are read in such blocks)
CLEAR_LINE = "\r\x1b[K"


def _show_partial(text: str, *, tty: bool) -> None:
    """On a terminal rewrite the current line (with the end of the text if it is wider); in logs add a line."""
    if not tty:
        typer.echo(f"partial: {text}")
        return
    width = max(2, shutil.get_terminal_size().columns - 1)  # a wrapped line could not be rewritten by \r
    typer.echo(CLEAR_LINE + (text if len(text) <= width else "…" + text[1 - width:]), nl=False)


def _run(transcriber: "Transcriber", blocks: Iterable["np.ndarray"], name: str, *, tty: bool) -> None:
    """Push `blocks` through `transcriber`, showing changed partials, then print `name<TAB>final text`."""
    transcriber.reset()
    shown, unshown = "", 0  # samples pushed since the last partial line
    for block in blocks:
        text = transcriber.push(block)
        unshown += len(block)
        if text != shown and (tty or unshown >= UPDATE_S * SAMPLE_RATE):
            _show_partial(text, tty=tty)
            shown, unshown = text, 0
    final = transcriber.finish()
    typer.echo(f"{CLEAR_LINE if tty else ''}{name}\t{final}")
    report = transcriber.report()
    typer.echo(f"{name}: {report.audio_seconds:.1f} s of audio, RTF {report.rtf:.3f}", err=True)


def transcribe(files: list[Path] = typer.Argument(None, help="Recordings (any format, rate or channel count)."),
               mic: bool = typer.Option(False, "--mic", help="Transcribe the default microphone instead of files."),
               seconds: float | None = typer.Option(None, min=0, help="With --mic: stop after this many seconds "
                                                                      "(default: at Ctrl-C)."),
               model: str = typer.Option("asr-offline", help="Shipped model name or checkpoint folder."),
               beam: int = typer.Option(1, min=1, help="Beam width: 1 is the greedy best path, more runs CTC "
                                                       "prefix beam search."),
               lm: str | None = typer.Option(None, help="Character n-gram LM for beam search (`centaurus lm`); "
                                                        "by default the model folder's lm.json, if it has one; "
                                                        "'none' decodes without."),
               lm_weight: float = typer.Option(0.5, min=0, help="Weight of the LM's log-probability."),
               lm_bonus: float = typer.Option(1.0, help="Score added per character, against short transcripts."),
               lm_oov_penalty: float = typer.Option(2.0, min=0, help="Score taken from a word that leaves the "
                                                                   "LM's lexicon (0: no lexicon)."),
               chunk_ms: float | None = typer.Option(None, min=0.001, help="Streaming chunk length in milliseconds. "
                                                                        "Default: 40 live; for files the model's "
                                                                        "file step (160 ms chunks, the same frames, "
                                                                        "about twice as fast) where the onnx engine "
                                                                        "runs one, else 40."),
               device: str = typer.Option("cpu", help="cpu, cuda or auto."),
               engine: str = typer.Option("auto", help="onnx: the model's exported acoustic step for --chunk-ms in "
                                                       "onnxruntime, without torch (CPU); torch; or auto: onnx "
                                                       "where the model has that step and the device is the CPU, "
                                                       "else torch.")) -> None:
    """Stream each file (or the microphone) through a CTC model, showing the partial transcript as audio arrives,
    then the final one."""
    from centaurus.audio import audio_info, iter_samples
    from centaurus.errors import CentaurusError, CheckpointError
    from centaurus.streaming.onnx_step import pick_step
    from centaurus.streaming.transcribe import Transcriber
    from centaurus.tasks.lm import CharNgram, lm_scorer
    from centaurus.training import resolve_checkpoint
    files = files or []
    if mic == bool(files):
        raise typer.BadParameter("give either FILE... or --mic")
    if seconds is not None and not mic:
        raise typer.BadParameter("--seconds only applies to --mic")
    if lm not in (None, "none") and beam < 2:
        raise typer.BadParameter("--lm needs beam search: add --beam 8, say")
    if engine not in ("auto", "torch", "onnx"):
        raise CentaurusError(f"--engine {engine}: use auto, torch or onnx")
    for path in files:  # a bad file fails before any model is loaded or any text printed
        audio_info(path)
    step = None
    if engine == "onnx" or (engine == "auto" and device == "cpu"):
        try:
            step = pick_step(model, "asr", chunk_ms, live=mic)
        except CheckpointError:
            if engine == "onnx":
                raise
    if step is not None and device != "cpu":
        raise CentaurusError(f"--device {device}: the onnx engine runs on the CPU")
    checkpoint = Path(model).parent if str(model).endswith(".onnx") else resolve_checkpoint(model)
    if lm is None and beam > 1 and (checkpoint / "lm.json").is_file():
        lm = str(checkpoint / "lm.json")
        typer.echo(f"beam search with the model's language model {lm} (--lm none turns it off)", err=True)
    language_model = CharNgram.load(lm) if lm not in (None, "none") else None
    chunk_ms = chunk_ms or 40.0  # the microphone's blocks, and the torch engine's chunk
    if step is not None:
        from centaurus.streaming.onnx_step import OnnxStreamer
        network = OnnxStreamer(step)
        if "tokenizer" not in network.metadata:
            raise CheckpointError(f"{step}: not a CTC acoustic step (no tokenizer in its metadata)")
    else:
        from centaurus_cli.devices import torch_device

        from centaurus.training import load_model
        _, _, network, _ = load_model(checkpoint)
    transcriber = Transcriber(network, beam_width=beam, sample_rate=SAMPLE_RATE, chunk_ms=chunk_ms,
                              device="cpu" if step is not None else torch_device(device))
    if language_model is not None:
        transcriber.scorer = lm_scorer(language_model, transcriber.tokenizer, weight=lm_weight, bonus=lm_bonus,
                                       oov_penalty=lm_oov_penalty)
    tty = sys.stdout.isatty()
    if mic:
        from centaurus.streaming.mic import Microphone
        with Microphone(block_ms=chunk_ms) as source, live_blocks(source, seconds) as blocks:
            typer.echo(f"listening on {source.device_name}; Ctrl-C stops", err=True)
            _run(transcriber, blocks, "mic", tty=tty)
    for path in files:
        blocks = iter_samples(path, block_samples=round(UPDATE_S * SAMPLE_RATE), sample_rate=SAMPLE_RATE)
        _run(transcriber, blocks, str(path), tty=tty)
