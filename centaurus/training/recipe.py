"""Recipes: YAML files validated by pydantic models (unknown keys and wrong types are errors), with
`--set a.b=value` overrides whose values are parsed as YAML and validated like the file itself."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from centaurus.errors import RecipeError
from centaurus.tasks import (
    ASRData,
    ASRDecode,
    ASRModel,
    ASRTask,
    AugmentSpec,
    DenoiseData,
    DenoiseLoss,
    DenoiseModel,
    DenoiseTask,
    KWSData,
    KWSLoss,
    KWSModel,
    KWSTask,
    Strict,
)


class OptimConfig(Strict):
    lr: float = 3e-3
    ssm_lr: float = 1e-3  # A and log_dt: own rate, no weight decay
    weight_decay: float = 0.01
    betas: list[float] = [0.9, 0.999]


class ScheduleConfig(Strict):
    warmup_steps: int = 100
    min_lr_ratio: float = 0.01  # the cosine ends at this fraction of each group's peak rate


class TrainerConfig(Strict):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(16, ge=1)  # global: split over DDP processes
    eval_batch_size: int = Field(16, ge=1)
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    amp: Literal["none", "bf16", "fp16"] = "none"
    compile: bool = False
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1)  # steps; a checkpoint is also written at each epoch's end
    log_every: int = Field(10, ge=1)
    num_workers: int = Field(0, ge=0)
    # Batches per pool of shuffled items that is sorted by length before it is cut into batches (0: plain
    # shuffle): items of like length share a batch, so little of it is padding. Needs a training set that
    # knows its items' lengths (ASR).
    length_buckets: int = Field(0, ge=0)
    out_dir: str = "runs/default"
    # Budgets. max_steps ends the run (validated and saved as at its end); the schedule's cosine spans
    # min(epochs x steps per epoch, max_steps). max_minutes only pauses it: it checkpoints and stops after that
    # much training time in this process, and the schedule ignores it, so `--resume` continues the same run.
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    # Stop after this many validations in a row without a better value of the task's metric.
    early_stop_patience: int | None = Field(None, ge=1)
    # 'backbone': train only the task head (parameters under a module named `head`), e.g. after `--init`.
    freeze: Literal["backbone"] | None = None


class Expected(Strict):
    """The result the recipe is meant to reach, and on what, so a run can be judged against it."""

    metric: str
    value: float | None = None
    note: str = ""


class Hardware(Strict):
    description: str
    hours: float | None = None


class _Common(Strict):
    name: str
    augment: AugmentSpec = AugmentSpec()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    trainer: TrainerConfig = TrainerConfig()
    expected: Expected
    hardware: Hardware


class KWSRecipe(_Common):
    task: Literal["kws"]
    data: KWSData
    model: KWSModel = KWSModel()
    loss: KWSLoss = KWSLoss()

    def build_task(self) -> KWSTask:
        return KWSTask(data=self.data, model=self.model, loss=self.loss, augment=self.augment, seed=self.trainer.seed)


class DenoiseRecipe(_Common):
    task: Literal["denoise"]
    data: DenoiseData
    model: DenoiseModel = DenoiseModel()
    loss: DenoiseLoss = DenoiseLoss()

    def build_task(self) -> DenoiseTask:
        return DenoiseTask(data=self.data, model=self.model, loss=self.loss, augment=self.augment,
                           seed=self.trainer.seed)


class ASRRecipe(_Common):
    task: Literal["asr"]
    data: ASRData
    model: ASRModel = ASRModel()
    decode: ASRDecode = ASRDecode()

    def build_task(self) -> ASRTask:
        return ASRTask(data=self.data, model=self.model, decode=self.decode, augment=self.augment,
                       seed=self.trainer.seed)


Recipe = Annotated[Union[KWSRecipe, DenoiseRecipe, ASRRecipe], Field(discriminator="task")]
_ADAPTER = TypeAdapter(Recipe)
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _describe(err: ValidationError) -> str:
    """The first problem as `key.path: message (got value)`, without the task tag pydantic puts in paths."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    if len(loc) > 1 and loc[0] in ("kws", "denoise", "asr"):
        loc = loc[1:]
    key = ".".join(loc) or "recipe"
    if first["type"] == "extra_forbidden":
        return f"unknown key {key}"
    if first["type"] == "missing":
        return f"missing key {key}"
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        given = first["input"].get("task") if isinstance(first.get("input"), dict) else None
        return "task must be one of kws, denoise, asr" + (f" (got {given!r})" if given is not None else "")
    return f"{key}: {first['msg']} (got {first['input']!r})"


def validate_recipe(data: object, *, source: str) -> KWSRecipe | DenoiseRecipe | ASRRecipe:
    """Validate a recipe mapping; `source` names it in errors."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: a recipe must be a mapping of sections, got {type(data).__name__}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as err:
        raise RecipeError(f"{source}: {_describe(err)}") from None


def apply_override(data: dict, assignment: str, *, source: str) -> None:
    """Apply `a.b.c=value` to nested `data` in place; the value is YAML (`3`, `1e-3`, `[1, 2]`, `null`)."""
    key, sep, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise RecipeError(f"{source}: bad override {assignment!r}; expected KEY.PATH=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
        if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
            value = float(value)  # PyYAML (YAML 1.1) reads 1e-3 as a string
    except yaml.YAMLError as err:
        raise RecipeError(f"{source}: override {key}: value {raw!r} is not valid YAML ({err.problem})") from None
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise RecipeError(f"{source}: override {key}: {'.'.join(parts[:i + 1])} is not a section")
        node = child
    node[parts[-1]] = value


# The keys that name files or folders. A checkpoint keeps its recipe, so they are stored absolute: `eval` or a
# resumed `train` then finds them from any working folder.
PATH_KEYS = ("data.root", "augment.noise_dir", "decode.lm", "trainer.out_dir", "data.engine.pool_root",
             "data.engine.room.cache_dir", "data.corpus", "data.negatives")
# Inputs that lie under data.root move with it when it is overridden (the output folder never does).
ROOTED_KEYS = ("augment.noise_dir", "decode.lm")


def _get(data: dict, key: str):
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _put(data: dict, key: str, value) -> None:
    *sections, last = key.split(".")
    for part in sections:
        data = data[part]
    data[last] = value


def _absolute(value, base: Path):
    """`value` made absolute against `base` (`~` expanded); anything but a non-empty string stays as it is."""
    if not isinstance(value, str) or not value:
        return value
    return os.path.normpath(base / Path(value).expanduser())


def _absolute_paths(data: dict, base: Path, keys=PATH_KEYS) -> None:
    for key in keys:
        value = _get(data, key)
        if isinstance(value, str):
            _put(data, key, _absolute(value, base))


def _moved(data: dict, old_root: str, new_root: str, keys=ROOTED_KEYS) -> list[str]:
    """Move each of `keys` that lies under `old_root` to the same place under `new_root`; returns those moved."""
    moved = []
    for key in keys:
        value = _get(data, key)
        if isinstance(value, str) and Path(value).is_relative_to(old_root):
            _put(data, key, str(Path(new_root) / Path(value).relative_to(old_root)))
            moved.append(key)
    return moved


def with_root(recipe, root: str | Path):
    """A copy of `recipe` whose data.root is `root` (made absolute), with the inputs that lay under the old
    root (augment.noise_dir, decode.lm) moved along."""
    data = recipe.model_dump(mode="json")
    new_root = _absolute(str(root), Path.cwd())
    _moved(data, data["data"]["root"], new_root)
    data["data"]["root"] = new_root
    return validate_recipe(data, source=str(root))


def load_recipe(path: str | Path, overrides: list[str] | tuple[str, ...] = ()):
    """Read a YAML recipe, apply overrides, validate. Raises `RecipeError` naming the file and the key.

    Relative paths in the file are taken from the file's folder, those of overrides from the working folder;
    the recipe holds them absolute. Overriding data.root moves the inputs that lay under the old root."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    data = {} if data is None else data
    if isinstance(data, dict):
        _absolute_paths(data, path.parent.absolute())
        old_root = _get(data, "data.root")
        for assignment in overrides:
            apply_override(data, assignment, source=str(path))
        overridden = {a.partition("=")[0].strip() for a in overrides}
        _absolute_paths(data, Path.cwd(), [k for k in PATH_KEYS if k in overridden])
        new_root = _get(data, "data.root")
        if isinstance(old_root, str) and isinstance(new_root, str) and new_root != old_root:
            keys = [k for k in ROOTED_KEYS if k not in overridden]
            for key in _moved(data, old_root, new_root, keys):
                if not Path(_get(data, key)).exists():
                    raise RecipeError(f"{path}: {key} {_get(data, key)} not found (it lay under data.root and "
                                      f"moved with it from {old_root}; set {key} too)")
    return validate_recipe(data, source=str(path))
