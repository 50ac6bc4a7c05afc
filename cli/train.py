"""`centaurus train RECIPE`, `centaurus eval CHECKPOINT`, `centaurus info CHECKPOINT`."""
import json
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.table import Table


def train(recipe: Path = typer.Argument(..., help="YAML recipe, e.g. recipes/kws/offline.yaml."),
          set_: list[str] = typer.Option([], "--set", help="Override a recipe key: --set trainer.epochs=3."),
          resume: bool = typer.Option(False, help="Continue from <out_dir>/checkpoints/last."),
          device: str = typer.Option("auto", help="cpu, cuda or auto."),
          seed: int | None = typer.Option(None, help="Seed (overrides trainer.seed)."),
          out: Path | None = typer.Option(None, help="Output folder (overrides trainer.out_dir).")) -> None:
    """Train a recipe; checkpoints, CSV/TensorBoard logs and plots go to the output folder."""
    from centaurus.training import load_recipe
    from centaurus.training import train as run_training
    overrides = list(set_) + ([f"trainer.seed={seed}"] if seed is not None else [])
    result = run_training(load_recipe(recipe, overrides), device=device, resume=resume, out_dir=out)
    peak = max((row["peak_mb"] for row in result.train_log), default=0.0)
    typer.echo(f"trained {result.steps} steps (peak memory {peak:.0f} MB); best {result.best_metric} "
               f"at {result.best_checkpoint}")


def evaluate(checkpoint: str = typer.Argument(..., help="Checkpoint folder (e.g. runs/NAME/checkpoints/best) or "
                                                        "shipped model name."),
             data: Path | None = typer.Option(None, help="Dataset root (default: the recipe's)."),
             split: str = typer.Option("test", help="train, valid or test."),
             out: Path | None = typer.Option(None, help="Report folder (default <checkpoint>/eval-<split>, or "
                                                        "eval-<name>-<split> here for a shipped model)."),
             device: str = typer.Option("auto", help="cpu, cuda or auto."),
             beam: int | None = typer.Option(None, min=0, help="ASR: beam width (default: the recipe's)."),
             lm: Path | None = typer.Option(None, help="ASR: character n-gram LM for beam search (`centaurus lm`)."),
             lm_weight: float | None = typer.Option(None, help="ASR: weight of the LM (default: the recipe's)."),
             lm_bonus: float | None = typer.Option(None, help="ASR: per-character bonus (default: the recipe's)."),
             lm_oov_penalty: float | None = typer.Option(None, help="ASR: penalty for a word out of the LM's "
                                                                    "lexicon (default: the recipe's).")
             ) -> None:
    """Evaluate a checkpoint: print a metrics table, write report.json and plots."""
    from centaurus.training import evaluate_checkpoint, resolve_checkpoint
    decode = {k: v for k, v in (("beam_width", beam), ("lm", None if lm is None else str(lm)),
                                ("lm_weight", lm_weight), ("lm_bonus", lm_bonus),
                                ("lm_oov_penalty", lm_oov_penalty)) if v is not None}
    if out is None and not Path(checkpoint).exists():  # a shipped model: keep the installed package untouched
        out = Path(f"eval-{checkpoint}-{split}")
    report = evaluate_checkpoint(resolve_checkpoint(checkpoint), data_root=data, split=split, out_dir=out,
                                 device=device, decode=decode)
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
    typer.echo(f"metrics: {json.dumps(facts['metrics'])}")
    typer.echo("recipe:\n" + yaml.safe_dump(facts["recipe"], sort_keys=False))
