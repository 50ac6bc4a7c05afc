"""One generic training loop for every task plugin.

AdamW over `centaurus.param_groups` (SSM dynamics at their own rate), linear warm-up then cosine decay,
gradient clipping, optional EMA, AMP and torch.compile, DDP under torchrun. Data order is a pure function of
(seed, epoch) and every example draws its randomness from its own generator, so `resume` continues exactly:
on CPU an interrupted-and-resumed run ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import math
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from centaurus.errors import CheckpointError, RecipeError
from centaurus.layers import param_groups

from . import checkpoint as ck
from .distributed import DistInfo, barrier, init_distributed, shutdown
from .logs import CsvLog, TensorBoard


@dataclass
class RunResult:
    out_dir: Path
    steps: int
    stopped_early: bool
    best_metric: float | None
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    train_log: list[dict] = field(default_factory=list)
    valid_log: list[dict] = field(default_factory=list)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: the accelerator's allocator peak on CUDA, else this process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise RecipeError(f"--device must be cpu, cuda or auto, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RecipeError("--device cuda: no CUDA device is available")
    return torch.device(name)


def lr_factor(step: int, *, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of each group's peak rate: linear warm-up over `warmup` steps, then cosine to `min_ratio`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def epoch_batches(n: int, *, batch_size: int, seed: int, epoch: int, dist: DistInfo,
                  lengths: list[int] | None = None, pool: int = 0) -> list[list[tuple[int, int]]]:
    """This process's share of every full batch of one epoch, as (epoch, index) keys. With item `lengths` and a
    `pool` size in batches, each pool of the shuffled items is sorted by length before it is cut into batches,
    and then the batches are shuffled."""
    generator = torch.Generator().manual_seed(seed * 7919 + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    if lengths is not None and pool:
        size = pool * batch_size
        order = [i for s in range(0, n, size) for i in sorted(order[s:s + size], key=lengths.__getitem__)]
    full = [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
    if lengths is not None and pool:
        full = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return [[(epoch, i) for i in b[dist.rank::dist.world_size]] for b in full]


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _autocast(device: torch.device, amp: str):
    if amp == "none":
        return contextlib.nullcontext()
    if amp == "fp16" and device.type == "cpu":
        raise RecipeError("trainer.amp: fp16 autocast is CUDA-only; use bf16 on CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"rng.cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state.update({f"rng.cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def _restore_rng(tensors: dict) -> None:
    torch.set_rng_state(tensors["rng.cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


class _Run:
    """The state of one training run; `Trainer.fit` drives it."""

    def __init__(self, recipe, *, device: torch.device, dist: DistInfo, out_dir: Path):
        self.recipe, self.device, self.dist, self.out_dir = recipe, device, dist, out_dir
        cfg = recipe.trainer
        torch.manual_seed(cfg.seed)
        self.task = recipe.build_task()
        self.model = self.task.build_model().to(device)
        self.train_set = self.task.dataset("train", train=True)
        self.lengths = None
        if cfg.length_buckets:
            self.lengths = self.train_set.lengths()
            if self.lengths is None:
                raise RecipeError(f"trainer.length_buckets: the {recipe.task} training set does not know its "
                                  "items' lengths; set it to 0")
        if cfg.batch_size % dist.world_size:
            raise RecipeError(f"trainer.batch_size {cfg.batch_size} must divide evenly over "
                              f"{dist.world_size} processes")
        self.steps_per_epoch = len(self.train_set) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise RecipeError(f"trainer.batch_size {cfg.batch_size} is larger than the training set "
                              f"({len(self.train_set)} examples)")
        self.total = cfg.epochs * self.steps_per_epoch
        opt = recipe.optim
        self.optimizer = torch.optim.AdamW(param_groups(self.model, lr=opt.lr, ssm_lr=opt.ssm_lr,
                                                        weight_decay=opt.weight_decay), betas=tuple(opt.betas))
        self.peak_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
                    if cfg.ema_decay else None)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        self.step, self.best, self.best_name = 0, None, None
        self.train_log, self.valid_log = [], []
        self.ckpt_root = out_dir / "checkpoints"

    # -- checkpoints -------------------------------------------------------------------------------------
    def inference_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def config(self, metrics: dict | None) -> dict:
        return {"format": ck.FORMAT, "version": ck.VERSION, "task": self.task.name,
                "model_config": self.task.model_config(), "recipe": self.recipe.model_dump(mode="json"),
                "step": self.step, "epoch": self.step / self.steps_per_epoch, "metrics": metrics or {},
                "latency_samples": self.task.latency_samples(self.model),
                "weights": "ema" if self.ema is not None else "raw"}

    def save(self, metrics: dict | None = None, *, is_best: bool = False) -> Path:
        tensors, optim_meta = ck.optimizer_state(self.optimizer)
        tensors.update({f"model.{k}": v for k, v in self.model.state_dict().items()})
        tensors.update(_rng_state())
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.state_dict().items()})
        meta = {"step": self.step, "best": self.best, "best_name": self.best_name, "optimizer": optim_meta,
                "scaler": self.scaler.state_dict(), "train_log": self.train_log, "valid_log": self.valid_log}
        name = f"step-{self.step:08d}"
        if is_best:
            meta.update(best_name=name)
            self.best_name = name
        path = ck.write_checkpoint(self.ckpt_root, name, weights=self.inference_model().state_dict(),
                                   config=self.config(metrics), state=tensors, state_json=meta)
        ck.point(self.ckpt_root, "last", name)
        if is_best:
            ck.point(self.ckpt_root, "best", name)
        ck.prune(self.ckpt_root, {name, self.best_name})
        return path

    def resume(self) -> None:
        folder = self.ckpt_root / "last"
        if not folder.exists():
            raise CheckpointError(f"{self.out_dir}: nothing to resume (no checkpoints/last)")
        config = ck.read_checkpoint(folder).config
        if config["model_config"] != self.task.model_config():
            raise CheckpointError(f"{folder}: its model config differs from the recipe's; cannot resume")
        tensors, meta = ck.read_tensors(folder / ck.STATE_FILE), ck.read_json(folder / ck.STATE_JSON)
        ck.load_weights(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                        source=folder / ck.STATE_FILE)
        if self.ema is not None:
            self.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        ck.restore_optimizer(self.optimizer, tensors, meta["optimizer"])
        self.scaler.load_state_dict(meta["scaler"])
        _restore_rng(tensors)
        self.step, self.best, self.best_name = meta["step"], meta["best"], meta["best_name"]
        self.train_log, self.valid_log = meta["train_log"], meta["valid_log"]

    # -- steps ---------------------------------------------------------------------------------------------
    def set_lr(self) -> float:
        sched = self.recipe.schedule
        factor = lr_factor(self.step, total=self.total, warmup=sched.warmup_steps, min_ratio=sched.min_lr_ratio)
        for group, peak in zip(self.optimizer.param_groups, self.peak_lrs):
            group["lr"] = peak * factor
        return self.peak_lrs[-1] * factor

    def train_step(self, forward_model, batch: dict) -> float:
        cfg = self.recipe.trainer
        with _autocast(self.device, cfg.amp):
            outputs = self.task.forward(forward_model, batch)
        loss = self.task.loss(batch, outputs)
        if not torch.isfinite(loss):
            raise RecipeError(f"loss became {loss.item()} at step {self.step}; lower optim.lr or enable "
                              "trainer.grad_clip")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss.item()

    def validate(self) -> dict:
        model = self.inference_model()
        report = self.task.evaluate(model, "valid", device=self.device, batch_size=self.recipe.trainer.eval_batch_size)
        model.train()
        self.model.train()
        return report["metrics"]

    def improved(self, value: float) -> bool:
        if self.best is None or not math.isfinite(self.best):
            return math.isfinite(value)
        return value > self.best if self.task.higher_is_better else value < self.best


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                    disable=not enabled)


def train(recipe, *, device: str = "auto", resume: bool = False, out_dir: str | Path | None = None,
          stop_after: int | None = None, progress: bool = True) -> RunResult:
    """Train `recipe` (a validated recipe) to the end, or until step `stop_after` (then checkpoint and
    return, as a preemption would). Output under `out_dir` (default `recipe.trainer.out_dir`)."""
    dev = resolve_device(device)
    dist = init_distributed(dev.type)
    if dist.enabled and dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    try:
        return _fit(_Run(recipe, device=dev, dist=dist, out_dir=Path(out_dir or recipe.trainer.out_dir)),
                    resume=resume, stop_after=stop_after, progress=progress)
    finally:
        shutdown(dist)


def _fit(run: _Run, *, resume: bool, stop_after: int | None, progress: bool) -> RunResult:
    cfg, dist = run.recipe.trainer, run.dist
    if resume:
        run.resume()
    main = dist.is_main
    if main:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        train_csv = CsvLog(run.out_dir / "train_log.csv", run.train_log)
        valid_csv = CsvLog(run.out_dir / "valid_log.csv", run.valid_log)
        board = TensorBoard(run.out_dir, start_step=run.step)
    model = run.model
    if dist.enabled:
        if run.device.type == "cuda":  # batch statistics over all ranks (SyncBatchNorm needs CUDA tensors)
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DistributedDataParallel(model, device_ids=[dev_index] if (dev_index := run.device.index) is not None
                                        else None)
    forward_model = torch.compile(model) if cfg.compile else model
    run.model.train()
    losses, tick, stopped = [], time.perf_counter(), False
    with _progress(progress and main) as bar:
        job = bar.add_task(f"{run.recipe.name}", total=run.total, completed=run.step, status="")
        while run.step < run.total and not stopped:
            epoch, first = divmod(run.step, run.steps_per_epoch)
            plan = epoch_batches(len(run.train_set), batch_size=cfg.batch_size, seed=cfg.seed, epoch=epoch,
                                 dist=dist, lengths=run.lengths, pool=cfg.length_buckets)[first:]
            # A private generator keeps DataLoader from drawing on the global RNG (resume would diverge).
            loader = DataLoader(run.train_set, batch_sampler=plan, collate_fn=run.task.collate,
                                num_workers=cfg.num_workers, generator=torch.Generator())
            for batch in loader:
                lr = run.set_lr()
                losses.append(run.train_step(forward_model, _to(batch, run.device)))
                run.step += 1
                if run.step % cfg.log_every == 0 or run.step % run.steps_per_epoch == 0:
                    row = {"step": run.step, "epoch": round(run.step / run.steps_per_epoch, 4),
                           "loss": sum(losses) / len(losses), "lr": lr,
                           "seconds": round(time.perf_counter() - tick, 3),
                           "peak_mb": round(peak_memory_mb(run.device), 1)}
                    losses, tick = [], time.perf_counter()
                    run.train_log.append(row)
                    if main:
                        train_csv.write(row)
                        board.scalars("train", row, run.step)
                    bar.update(job, status=f"loss {row['loss']:.4g}")
                bar.update(job, completed=run.step)
                end_of_epoch = run.step % run.steps_per_epoch == 0
                if end_of_epoch:
                    _end_epoch(run, bar, job, valid_csv if main else None, board if main else None)
                elif run.step % cfg.checkpoint_every == 0 or run.step == stop_after:
                    if main:
                        run.save()
                    barrier(dist)
                if run.step == stop_after:
                    stopped = True
                    break
    if main:
        board.close()
        _plot_history(run)
    last = run.ckpt_root / "last"
    best = run.ckpt_root / "best"
    return RunResult(run.out_dir, run.step, stopped, run.best, best if best.exists() else None,
                     last if last.exists() else None, run.train_log, run.valid_log)


def _end_epoch(run: _Run, bar, job, valid_csv, board) -> None:
    """Validate on the main process, keep the best checkpoint by the task's metric, checkpoint."""
    if run.dist.is_main:
        metrics = run.validate()
        value = float(metrics[run.task.metric])
        is_best = run.improved(value)
        if is_best:
            run.best = value
        row = {"step": run.step, "epoch": run.step // run.steps_per_epoch, **metrics}
        run.valid_log.append(row)
        valid_csv.write(row)
        board.scalars("valid", row, run.step)
        run.save(metrics, is_best=is_best)
        bar.update(job, status=f"{run.task.metric} {value:.4g}")
    barrier(run.dist)


def _plot_history(run: _Run) -> None:
    from centaurus.tasks.plots import plot_curves
    plots = run.out_dir / "plots"
    if run.train_log:
        plot_curves([r["step"] for r in run.train_log], {"loss": [r["loss"] for r in run.train_log]},
                    plots / "loss.png")
    if run.valid_log:
        names = [k for k, v in run.valid_log[0].items() if k not in ("step", "epoch", "examples")
                 and isinstance(v, (int, float))]
        plot_curves([r["step"] for r in run.valid_log], {k: [r.get(k, math.nan) for r in run.valid_log] for k in names},
                    plots / "metrics.png")
