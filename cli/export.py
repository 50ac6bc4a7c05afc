"""`centaurus export CHECKPOINT [--onnx OUT.onnx]`: the streaming step model with explicit state, fixed chunk."""
from pathlib import Path

import typer

from centaurus.audio import SAMPLE_RATE


def export(checkpoint: Path = typer.Argument(..., help="Checkpoint folder, e.g. runs/NAME/checkpoints/best."),
           onnx: Path | None = typer.Option(None, "--onnx", help="Where to write the ONNX model (default: the "
                                                                 "checkpoint folder's steps that `denoise`, "
                                                                 "`kws` and `transcribe` run by default)."),
           chunk_ms: float | None = typer.Option(None, help="Fixed chunk length in ms (a multiple of the model's "
                                                            "down-sampling). Default: what the command that "
                                                            "streams the model uses: 16 for a denoiser (as "
                                                            "`denoise`), 40 for a keyword spotter or recogniser."),
           force: bool = typer.Option(False, help="Overwrite an existing OUT.onnx.")) -> None:
    """Export the streaming step: inputs `audio` (1, 1, T) and `state_i`, outputs `output` and `state_i_out` (a
    recogniser's carries its tokenizer). Without --onnx, the step the inference commands run by default goes into
    the checkpoint folder: for a keyword spotter that is its 'window' step (every 100 ms, the last second), for a
    denoiser its 16 ms live step and 256 ms file step."""
    from centaurus.errors import CentaurusError
    from centaurus.streaming.export import export_onnx, export_steps, export_task_step
    from centaurus.training import load_model
    if onnx is None:
        if chunk_ms is not None:
            raise CentaurusError("--chunk-ms needs --onnx: the checkpoint's own step has the commands' chunk")
        written = export_steps(checkpoint, force=force)
        if not written:
            raise CentaurusError(f"{checkpoint}: has its ONNX steps already; pass --force to write them again")
        typer.echo(f"wrote {', '.join(map(str, written))}")
        return
    if onnx.exists() and not force:
        raise CentaurusError(f"{onnx}: exists; pass --force to overwrite it")
    _, task, model, _ = load_model(checkpoint)
    if chunk_ms is None:  # the defaults of `denoise`, and of `kws` and `transcribe`
        chunk_ms = 16.0 if task.name == "denoise" else 40.0
    chunk = round(chunk_ms * SAMPLE_RATE / 1000)
    if task.name == "asr":
        export_task_step(model, task, onnx, chunk_samples=chunk)
    else:
        export_onnx(model, onnx, chunk_samples=chunk)
    typer.echo(f"wrote {onnx}: chunks of {chunk} samples ({chunk_ms:g} ms)")
