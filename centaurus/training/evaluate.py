"""`centaurus eval` and `centaurus info`: metrics, JSON report and plots from a checkpoint; model facts."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from centaurus.atomic import write_text
from centaurus.audio import SAMPLE_RATE

from .checkpoint import inference_task, load_model
from .pretrained import shipped_models
from .recipe import with_root
from .trainer import resolve_device

SPLITS = ("train", "valid", "test")


def report_dir(checkpoint: Path, split: str) -> Path:
    """`runs/NAME/eval/<step folder>-<split>` for `runs/NAME/checkpoints/<best|last|step-N>`: outside the
    checkpoints, which training prunes, and named after the step folder that `best` or `last` points to now.
    A checkpoint folder elsewhere gets `eval/<folder>-<split>` beside it, and a shipped model
    `eval-<name>-<split>` in the working folder, so the installed package stays untouched."""
    folder = checkpoint.resolve()
    if folder in {p.resolve() for p in shipped_models().values()}:
        return Path(f"eval-{folder.name}-{split}")
    run = folder.parent.parent if folder.parent.name == "checkpoints" else folder.parent
    return run / "eval" / f"{folder.name}-{split}"


def evaluate_checkpoint(checkpoint: str | Path, *, data_root: str | Path | None = None, split: str = "test",
                        out_dir: str | Path | None = None, device: str = "auto", decode: dict | None = None,
                        negatives: str | Path | None = None) -> dict:
    """Evaluate on `split` of `data_root` (default: the recipe's own root); write `report.json` and plots
    into `out_dir` (default `report_dir(checkpoint, split)`, beside the run). `decode` overrides an ASR recipe's
    decode section (beam_width, lm, ...). A keyword spotter is also streamed over `negatives` (recordings
    without keywords; default: its recipe's) at the thresholds it stores. Returns the report."""
    from pydantic import ValidationError

    from centaurus.errors import RecipeError
    if split not in SPLITS:
        raise RecipeError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    recipe, task, model, ckpt = load_model(checkpoint)
    if decode:
        if not hasattr(recipe, "decode"):
            raise RecipeError(f"decoding options apply to speech recognisers, not to a '{task.name}' model")
        try:
            recipe.decode = recipe.decode.model_validate({**recipe.decode.model_dump(), **decode})
        except ValidationError as err:
            raise RecipeError(f"decoding options: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}") from None
    if data_root is not None:
        recipe = with_root(recipe, data_root)
    if decode or data_root is not None:
        task = inference_task(recipe, ckpt)
    dev = resolve_device(device)
    if negatives is not None and task.name != "kws":
        raise RecipeError(f"--negatives applies to keyword spotters, not to a '{task.name}' model")
    streamed = ({"negatives": None if negatives is None else str(negatives),
                 "thresholds": ckpt.config.get("thresholds")} if task.name == "kws" else {})
    report = task.evaluate(model.to(dev), split, device=dev, batch_size=recipe.trainer.eval_batch_size, **streamed)
    out = Path(out_dir) if out_dir else report_dir(ckpt.path, split)
    plots = task.plots(report, out)
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    public.update(checkpoint=str(ckpt.path), task=task.name, split=split, data_root=recipe.data.root,
                  step=ckpt.config.get("step"), plots=[str(p) for p in plots])
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.json", json.dumps(public, indent=2))
    public["report"] = str(out / "report.json")
    return public


def model_info(checkpoint: str | Path) -> dict:
    """Parameters, MACs per second of audio (torch's FLOP counter on 1 s: matmuls and convolutions; FFTs and
    elementwise ops are not counted), algorithmic latency and the recipe."""
    recipe, task, model, ckpt = load_model(checkpoint)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, SAMPLE_RATE))
    latency = task.latency_samples(model)
    return {"checkpoint": str(ckpt.path), "task": task.name, "step": ckpt.config.get("step"),
            "parameters": sum(p.numel() for p in model.parameters()),
            "macs_per_second": counter.get_total_flops() // 2,
            "latency_samples": latency, "latency_ms": 1000 * latency / SAMPLE_RATE,
            "metrics": ckpt.config.get("metrics", {}), "recipe": recipe.model_dump(mode="json")}
