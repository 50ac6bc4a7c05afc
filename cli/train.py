"""`centaurus train RECIPE`, `centaurus eval CHECKPOINT`, `centaurus info CHECKPOINT`."""
import json
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table


def train(recipe: Path = typer.Argument(..., help="YAML recipe, e.g. recipes/kws/offline.yaml."),
          set_: list[str] = typer.Option([], "--set", help="Override a recipe key: --set trainer.epochs=3. Budgets: "
                                         "trainer.max_steps=N, trainer.max_minutes=M (checkpoint and stop; "
                                         "--resume goes on), trainer.early_stop_patience=P."),
          resume: bool = typer.Option(False, help="Continue the run in the output folder from checkpoints/last."),
          force: bool = typer.Option(False, help="Delete the earlier run in the output folder (checkpoints, logs, "
                                                 "plots) and start afresh."),
          init: str | None = typer.Option(None, help="Start from the weights of this checkpoint folder or shipped "
                                                     "model (fine-tuning); its architecture must match the recipe's. "
                                                     "--set trainer.freeze=backbone trains only the task head."),
          device: str = typer.Option("auto", help="cpu, cuda or auto."),
          seed: int | None = typer.Option(None, help="Seed (overrides trainer.seed)."),
          out: Path | None = typer.Option(None, help="Output folder (overrides trainer.out_dir).")) -> None:
    """Train a recipe; checkpoints, CSV/TensorBoard logs and plots go to the output folder.

    An output folder that holds an earlier run needs --resume or --force. Ctrl-C (SIGINT) or SIGTERM saves a
    checkpoint after the step in flight and prints the command that resumes it."""
    import shlex
    import signal

    from centaurus.training import load_recipe
    from centaurus.training import train as run_training
    overrides = list(set_) + ([f"trainer.seed={seed}"] if seed is not None else [])
    loaded = load_recipe(recipe, overrides)
    result = run_training(loaded, device=device, resume=resume, force=force, init=init, out_dir=out)
    again = ["centaurus", "train", str(recipe), *[a for o in set_ for a in ("--set", o)],
             *(["--seed", str(seed)] if seed is not None else []), *(["--device", device] if device != "auto" else []),
             "--resume", "--out", str(result.out_dir)]
    if result.stop_reason in ("SIGINT", "SIGTERM"):
        if result.main:
            typer.echo(f"interrupted at step {result.steps}; checkpoint saved; resume with: {shlex.join(again)}",
                       err=True)
        raise SystemExit(128 + getattr(signal, result.stop_reason))
    if not result.main:
        return
    peak = max((row["peak_mb"] for row in result.train_log), default=0.0)
    typer.echo(f"trained {result.steps} of {result.total_steps} steps (peak memory {peak:.0f} MB)")
    if result.stop_reason == "max_minutes":
        typer.echo(f"time budget reached at step {result.steps}; checkpoint saved; resume with: {shlex.join(again)}")
    elif result.stop_reason == "early_stop":
        typer.echo(f"stopped early: {result.metric} did not improve in "
                   f"{loaded.trainer.early_stop_patience} validations (trainer.early_stop_patience)")
    if result.best_checkpoint is None:
        typer.echo(f"no validation yet; last checkpoint: {result.last_checkpoint}")
    else:
        typer.echo(f"best {result.metric} {result.best_metric:.4f} at step {result.best_step}: {result.best_checkpoint}")
        _export_step(result.best_checkpoint)


def _export_step(checkpoint: Path) -> None:
    """The best checkpoint's ONNX step, so the inference commands run it on their fast default engine; a model
    that cannot be exported still trained, so that is one line, not a failure."""
    from centaurus.errors import CentaurusError
    from centaurus.streaming.export import export_steps
    try:
        written = export_steps(checkpoint)
    except ImportError as err:  # exporting needs the `export` extra (onnx), running it does not
        typer.echo(f"no ONNX step exported ({err.name} is missing: pip install 'centaurus[export]', then "
                   f"`centaurus export {checkpoint}`)", err=True)
        return
    except CentaurusError as err:
        typer.echo(f"no ONNX step exported ({err}); the commands run this model with --engine torch", err=True)
        return
    typer.echo(f"ONNX steps for the inference commands: {', '.join(map(str, written))}")


def evaluate(checkpoint: str = typer.Argument(..., help="Checkpoint folder (e.g. runs/NAME/checkpoints/best) or "
                                                        "shipped model name."),
             data: Path | None = typer.Option(None, help="Dataset root (default: the recipe's); inputs that lay "
                                                         "under the recipe's root move with it."),
             split: str = typer.Option("test", help="train, valid or test."),
             out: Path | None = typer.Option(None, help="Report folder (default runs/NAME/eval/<step>-<split> "
                                                        "beside the run's checkpoints, or eval-<name>-<split> here "
                                                        "for a shipped model)."),
             device: str = typer.Option("auto", help="cpu, cuda or auto."),
             beam: int | None = typer.Option(None, min=0, help="ASR: beam width (default: the recipe's)."),
             lm: Path | None = typer.Option(None, help="ASR: character n-gram LM for beam search (`centaurus lm`)."),
             lm_weight: float | None = typer.Option(None, help="ASR: weight of the LM (default: the recipe's)."),
             lm_bonus: float | None = typer.Option(None, help="ASR: per-character bonus (default: the recipe's)."),
             lm_oov_penalty: float | None = typer.Option(None, help="ASR: penalty for a word out of the LM's "
                                                                    "lexicon (default: the recipe's)."),
             negatives: Path | None = typer.Option(None, help="KWS: recordings without keywords, streamed as `kws "
                                                              "listen` streams, for false accepts per hour and "
                                                              "the DET curve (default: the recipe's, else the "
                                                              "data root's background noise).")
             ) -> None:
    """Evaluate a checkpoint: print a metrics table, write report.json and plots."""
    from centaurus.training import evaluate_checkpoint, resolve_checkpoint
    decode = {k: v for k, v in (("beam_width", beam), ("lm", None if lm is None else str(lm)),
                                ("lm_weight", lm_weight), ("lm_bonus", lm_bonus),
                                ("lm_oov_penalty", lm_oov_penalty)) if v is not None}
    report = evaluate_checkpoint(resolve_checkpoint(checkpoint), data_root=data, split=split, out_dir=out,
                                 device=device, decode=decode, negatives=negatives)
    table = Table(title=f"{report['task']} on {split}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report["metrics"].items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console().print(table)
    typer.echo(f"report: {report['report']}")


def info(checkpoint: str = typer.Argument(..., help="Checkpoint folder or shipped model name.")) -> None:
    """Parameters, MACs per second of audio, algorithmic latency and the recipe of a checkpoint."""
    from centaurus.training import model_info, resolve_checkpoint
    facts = model_info(resolve_checkpoint(checkpoint))
    typer.echo(f"task: {facts['task']}  step: {facts['step']}")
    typer.echo(f"parameters: {facts['parameters']:,}")
    typer.echo(f"MACs per second of audio: {facts['macs_per_second']:,} (matmul/conv only)")
    typer.echo(f"algorithmic latency: {facts['latency_samples']} samples = {facts['latency_ms']:.2f} ms")
    # The trainer stores the metrics of the validation it ran before writing the checkpoint, if any.
    typer.echo(f"metrics on the valid split at step {facts['step']}: {json.dumps(facts['metrics'])}"
               if facts["metrics"] else f"metrics: none (step {facts['step']} was saved between validations)")
    typer.echo("recipe:\n" + yaml.safe_dump(facts["recipe"], sort_keys=False))
