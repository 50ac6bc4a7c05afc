"""One generic training loop for every task plugin.

AdamW over `centaurus.param_groups` (SSM dynamics at their own rate), linear warm-up then cosine decay,
gradient clipping, optional EMA, AMP and torch.compile, DDP under torchrun. Data order is a pure function of
(seed, epoch) and every example draws its randomness from its own generator, so `resume` continues exactly:
on CPU an interrupted-and-resumed run ends bit-identical to an uninterrupted one.

A run stops at the end of its epochs or `trainer.max_steps`, early after `trainer.early_stop_patience`
validations without improvement, or pauses with a checkpoint after `trainer.max_minutes` or on SIGINT/SIGTERM
(after the step in flight). An output folder that holds an earlier run is only reused with `resume` or `force`.
"""
from __future__ import annotations

import contextlib
import math
import resource
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import distributed as torch_dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from centaurus.errors import CheckpointError, RecipeError
from centaurus.layers import param_groups

from . import checkpoint as ck
from .distributed import DistInfo, barrier, init_distributed, shutdown
from .logs import CsvLog, TensorBoard
from .pretrained import resolve_checkpoint

# What a run writes into its output folder; `force` deletes these, so an old run never mixes with a new one.
RUN_OUTPUTS = ("checkpoints", "tensorboard", "plots", "train_log.csv", "valid_log.csv")
# Model-config keys that change no weight (training-time regularisers): `init` may differ in them.
TRAINING_ONLY = {"spec_augment", "dropout"}
# Why a run stopped before its last step, by priority when processes disagree (the largest code wins).
STOPS = {1: "stop_after", 2: "early_stop", 3: "max_minutes", 4: "SIGINT", 5: "SIGTERM"}


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
    metric: str = ""  # the task's validation metric, which picks `best`
    best_step: int | None = None
    total_steps: int = 0  # the schedule's length: epochs x steps per epoch, or max_steps if fewer
    stop_reason: str | None = None  # a `STOPS` value; None when the run reached total_steps
    main: bool = True  # the main process, which validates and saves (under DDP the others know no best)


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


def _say(line: str, *, err: bool = False) -> None:
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def _agree(dist: DistInfo, device: torch.device, code: int) -> int:
    """The largest `code` over all processes, so that every rank takes the same decision."""
    if not dist.enabled:
        return code
    value = torch.tensor([code], device=device)
    torch_dist.all_reduce(value, op=torch_dist.ReduceOp.MAX)
    return int(value.item())


def config_difference(stored, derived, *, path: str = "model") -> str | None:
    """The first model-config key where a checkpoint (`stored`) and a recipe (`derived`) disagree, as
    `key: X in the checkpoint, Y in the recipe`; keys in `TRAINING_ONLY`, and keys the checkpoint predates, are
    not compared."""
    if isinstance(stored, dict) and isinstance(derived, dict):
        for key, value in stored.items():
            if key in TRAINING_ONLY:
                continue
            if key not in derived:
                return f"{path}.{key}: {_short(value)} in the checkpoint, absent from the recipe"
            if (found := config_difference(value, derived[key], path=f"{path}.{key}")) is not None:
                return found
        return None
    return None if stored == derived else f"{path}: {_short(stored)} in the checkpoint, {_short(derived)} in the recipe"


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_head(name: str) -> bool:
    """Whether parameter `name` belongs to the task head: a module named `head` (KWS: the classifier's MLP;
    ASR: the CTC projection; denoising: the hourglass's last two SSM blocks)."""
    return "head" in name.split(".")


def earlier_run(out_dir: Path) -> list[str]:
    """The outputs of an earlier run in `out_dir`."""
    return [name for name in RUN_OUTPUTS if (out_dir / name).exists()]


def _claim(out_dir: Path, *, resume: bool, force: bool, dist: DistInfo, device: torch.device) -> None:
    """Refuse an output folder that holds an earlier run unless `resume` (continue it) or `force` (delete it)."""
    if resume and force:
        raise RecipeError("--resume continues the earlier run and --force deletes it: pass only one")
    if resume:
        return
    found = earlier_run(out_dir) if dist.is_main else []
    if _agree(dist, device, int(bool(found) and not force)):
        hint = ("--resume to continue it, or --force to delete it and start afresh"
                if (out_dir / "checkpoints" / "last").exists() else "--force to delete it and start afresh")
        raise CheckpointError(f"{out_dir}: holds an earlier run ({', '.join(found) or 'seen by rank 0'}); "
                              f"add {hint}")
    for name in found:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    barrier(dist)


class _Signals:
    """While active, the first SIGINT or SIGTERM only records itself, so the run can stop after the step in
    flight with a checkpoint; the previous handlers are back after it, so a second signal stops at once."""

    def __init__(self):
        self.received: int | None = None
        self.previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self.previous = {s: signal.signal(s, self._record) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _record(self, signum, frame) -> None:
        self.received = self.received or signum
        self.__exit__()

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


def _ignore_sigint(worker_id: int) -> None:
    # Ctrl-C reaches the whole process group: loader workers leave it to the main process, which checkpoints.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Run:
    """The state of one training run; `Trainer.fit` drives it."""

    def __init__(self, recipe, *, device: torch.device, dist: DistInfo, out_dir: Path, init: str | Path | None = None,
                 load_init: bool = True):
        self.recipe, self.device, self.dist, self.out_dir = recipe, device, dist, out_dir
        cfg = recipe.trainer
        torch.manual_seed(cfg.seed)
        self.task = recipe.build_task()
        start = self._init_checkpoint(init) if init is not None else None
        self.model = self.task.build_model()
        if start is not None:
            self._check_init(start)
            if load_init:  # a resumed fine-tune takes its weights from its own checkpoint instead
                ck.load_weights(self.model, start.weights, source=start.path / ck.MODEL_FILE)
        if cfg.freeze == "backbone":
            self._freeze_backbone()
        self.model.to(device)
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
        if cfg.max_steps is not None:
            self.total = min(self.total, cfg.max_steps)
        opt = recipe.optim
        self.optimizer = torch.optim.AdamW(param_groups(self.model, lr=opt.lr, ssm_lr=opt.ssm_lr,
                                                        weight_decay=opt.weight_decay), betas=tuple(opt.betas))
        self.peak_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
                    if cfg.ema_decay else None)
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        self.step, self.best, self.best_name = 0, None, None
        self.stale = 0  # validations since the best one
        self.saved_step = None  # the step of the last checkpoint this process wrote
        self.epoch_losses: list[float] = []  # training losses since the last validation
        self.train_log, self.valid_log = [], []
        self.ckpt_root = out_dir / "checkpoints"

    # -- fine-tuning ---------------------------------------------------------------------------------------
    def _init_checkpoint(self, init: str | Path) -> ck.Checkpoint:
        start = ck.read_checkpoint(resolve_checkpoint(init))
        if start.config["task"] != self.task.name:
            raise CheckpointError(f"--init {init}: a {start.config['task']} model; the recipe trains {self.task.name}")
        return start

    def _check_init(self, start: ck.Checkpoint) -> None:
        found = config_difference(start.config["model_config"], self.task.model_config())
        if found is not None:
            raise CheckpointError(f"--init {start.path}: its architecture differs from the recipe's ({found}); "
                                  "make the recipe's model section match it")

    def _freeze_backbone(self) -> None:
        params = dict(self.model.named_parameters())
        if not any(is_head(name) for name in params):
            raise RecipeError(f"trainer.freeze: the {self.task.name} model has no module named 'head' to train")
        for name, param in params.items():
            param.requires_grad_(is_head(name))

    def train_mode(self) -> None:
        """Training mode; with a frozen backbone, its BatchNorm layers keep their running statistics too."""
        self.model.train()
        if self.recipe.trainer.freeze is None:
            return
        for module in self.model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in module.parameters(recurse=False)):
                module.eval()

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
        meta = {"step": self.step, "best": self.best, "best_name": self.best_name, "stale": self.stale,
                "optimizer": optim_meta, "scaler": self.scaler.state_dict(), "train_log": self.train_log,
                "valid_log": self.valid_log}
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
        self.saved_step = self.step
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
        self.stale = meta.get("stale", 0)  # absent from checkpoints older than early stopping
        self.train_log, self.valid_log = meta["train_log"], meta["valid_log"]
        self.saved_step = self.step

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
        # Validation leaves the global RNG as it found it, so validating never changes what training draws.
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            report = self.task.evaluate(model, "valid", device=self.device,
                                        batch_size=self.recipe.trainer.eval_batch_size)
        model.train()
        self.train_mode()
        return report["metrics"]

    def improved(self, value: float) -> bool:
        if self.best is None or not math.isfinite(self.best):
            return math.isfinite(value)
        return value > self.best if self.task.higher_is_better else value < self.best


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                    disable=not enabled)


def train(recipe, *, device: str = "auto", resume: bool = False, force: bool = False, init: str | Path | None = None,
          out_dir: str | Path | None = None, stop_after: int | None = None, progress: bool = True) -> RunResult:
    """Train `recipe` (a validated recipe) to the end, or until step `stop_after` (then checkpoint and
    return, as a preemption would). Output under `out_dir` (default `recipe.trainer.out_dir`), which may hold an
    earlier run only with `resume` (continue it) or `force` (delete it first). `init`: a checkpoint folder or a
    shipped model's name whose weights the run starts from; its architecture must match the recipe's."""
    dev = resolve_device(device)
    dist = init_distributed(dev.type)
    if dist.enabled and dev.type == "cuda":
        dev = torch.device("cuda", dist.local_rank)
        torch.cuda.set_device(dev)
    try:
        out = Path(out_dir or recipe.trainer.out_dir)
        # The run is built (recipe and `init` checked, `init` read) before `force` deletes anything.
        run = _Run(recipe, device=dev, dist=dist, out_dir=out, init=init, load_init=not resume)
        _claim(out, resume=resume, force=force, dist=dist, device=dev)
        return _fit(run, resume=resume, stop_after=stop_after, progress=progress)
    finally:
        shutdown(dist)


def _stop_code(run: _Run, signals: _Signals, started: float, *, validated: bool, stop_after: int | None) -> int:
    """This process's reason (a `STOPS` code, 0 for none) to stop after the step just taken."""
    cfg = run.recipe.trainer
    if signals.received is not None:
        return 4 if signals.received == signal.SIGINT else 5
    if cfg.max_minutes is not None and time.monotonic() - started >= cfg.max_minutes * 60:
        return 3
    if validated and cfg.early_stop_patience and run.stale >= cfg.early_stop_patience:
        return 2
    return 1 if run.step == stop_after else 0


def _checkpoint(run: _Run) -> None:
    """Save the current step on the main process, unless it is saved already."""
    if run.dist.is_main and run.saved_step != run.step:
        run.save()
    barrier(run.dist)


def _fit(run: _Run, *, resume: bool, stop_after: int | None, progress: bool) -> RunResult:
    cfg, dist, per_epoch = run.recipe.trainer, run.dist, run.steps_per_epoch
    main = dist.is_main
    if resume:
        run.resume()
        if main:
            _say(f"resumed from step {run.step} (epoch {run.step / per_epoch:.2f})")
    warmup = run.recipe.schedule.warmup_steps
    if main and warmup >= run.total:
        _say(f"warning: schedule.warmup_steps {warmup} >= the run's {run.total} steps: the learning rate never "
             "reaches its peak", err=True)
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
    run.train_mode()
    losses, tick, reason, started = [], time.perf_counter(), None, time.monotonic()
    with _progress(progress and main) as bar, _Signals() as signals:
        job = bar.add_task(f"{run.recipe.name}", total=run.total, completed=run.step, status="")
        while run.step < run.total and reason is None:
            epoch, first = divmod(run.step, per_epoch)
            plan = epoch_batches(len(run.train_set), batch_size=cfg.batch_size, seed=cfg.seed, epoch=epoch,
                                 dist=dist, lengths=run.lengths, pool=cfg.length_buckets)[first:]
            # A private generator keeps DataLoader from drawing on the global RNG (resume would diverge).
            loader = DataLoader(run.train_set, batch_sampler=plan, collate_fn=run.task.collate,
                                num_workers=cfg.num_workers, generator=torch.Generator(),
                                worker_init_fn=_ignore_sigint if cfg.num_workers else None)
            for batch in loader:
                lr = run.set_lr()
                loss = run.train_step(forward_model, _to(batch, run.device))
                losses.append(loss)
                run.epoch_losses.append(loss)
                run.step += 1
                if run.step % cfg.log_every == 0 or run.step % per_epoch == 0:
                    row = {"step": run.step, "epoch": round(run.step / per_epoch, 4),
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
                # Validation at each epoch's end and at the last step (max_steps may end mid-epoch).
                validated = run.step % per_epoch == 0 or run.step == run.total
                if validated:
                    _validate(run, bar, job, valid_csv if main else None, board if main else None)
                elif run.step % cfg.checkpoint_every == 0:
                    _checkpoint(run)
                code = _agree(dist, run.device, _stop_code(run, signals, started, validated=validated,
                                                                stop_after=stop_after))
                reason = STOPS.get(code) if run.step < run.total else None
                if reason is not None or run.step == run.total:
                    break
        if reason is not None:
            # A pause (time budget, signal, stop_after) is not the end: checkpoint without validating, so the
            # resumed run picks the same best and stops early at the same validation as an uninterrupted one.
            _checkpoint(run)
    if main:
        board.close()
        _plot_history(run)
    last = run.ckpt_root / "last"
    best = run.ckpt_root / "best"
    return RunResult(run.out_dir, run.step, reason is not None, run.best, best if best.exists() else None,
                     last if last.exists() else None, run.train_log, run.valid_log, metric=run.task.metric,
                     best_step=int(run.best_name.removeprefix("step-")) if run.best_name else None,
                     total_steps=run.total, stop_reason=reason, main=main)


def _validate(run: _Run, bar, job, valid_csv, board) -> None:
    """Validate on the main process, keep the best checkpoint by the task's metric, checkpoint, and print
    one summary line."""
    per_epoch = run.steps_per_epoch
    if run.dist.is_main:
        metrics = run.validate()
        value = float(metrics[run.task.metric])
        is_best = run.improved(value)
        if is_best:
            run.best = value
        run.stale = 0 if is_best else run.stale + 1
        epoch = run.step // per_epoch if run.step % per_epoch == 0 else round(run.step / per_epoch, 4)
        row = {"step": run.step, "epoch": epoch, **metrics}
        run.valid_log.append(row)
        valid_csv.write(row)
        board.scalars("valid", row, run.step)
        run.save(metrics, is_best=is_best)
        bar.update(job, status=f"{run.task.metric} {value:.4g}")
        loss = sum(run.epoch_losses) / len(run.epoch_losses) if run.epoch_losses else math.nan
        _say(f"epoch {math.ceil(run.step / per_epoch)}/{math.ceil(run.total / per_epoch)}  step "
             f"{run.step}/{run.total}  loss {loss:.4f}  {run.task.metric} {value:.4f}" + ("  (best)" if is_best else ""))
    run.epoch_losses = []
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
