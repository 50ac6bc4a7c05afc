"""Checkpoints: a folder with `model.safetensors` (inference weights), `config.json` (format, task, model
config, resolved recipe, step, metrics) and, for resuming, `train_state.safetensors` + `train_state.json`
(raw weights, optimiser, EMA, RNG). Written to a temporary folder and renamed into place; `last` and `best`
are symlinks swapped atomically. Loading reads safetensors and JSON only, never pickles."""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from centaurus.errors import CheckpointError, RecipeError

FORMAT, VERSION = "centaurus-checkpoint", 1
MODEL_FILE, CONFIG_FILE = "model.safetensors", "config.json"
STATE_FILE, STATE_JSON = "train_state.safetensors", "train_state.json"


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors needs contiguous, unshared CPU tensors.
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def write_checkpoint(root: Path, name: str, *, weights: dict, config: dict, state: dict, state_json: dict) -> Path:
    """Write checkpoint folder `root/name` atomically: nothing half-written ever carries the final name."""
    root.mkdir(parents=True, exist_ok=True)
    final, tmp = root / name, root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # Bytes through a plain write: the file gets the umask's permissions (save_file makes 0600).
    (tmp / MODEL_FILE).write_bytes(save(_tensors(weights)))
    (tmp / STATE_FILE).write_bytes(save(_tensors(state)))
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    (tmp / STATE_JSON).write_text(json.dumps(state_json, indent=2))
    if final.exists():
        old = root / f".{name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)
    return final


def point(root: Path, link: str, target: str) -> None:
    """Make `root/link` a symlink to `target` (a sibling folder), replacing any old link atomically."""
    tmp = root / f".{link}.link-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, root / link)


def prune(root: Path, keep: set[str]) -> None:
    """Delete step folders that neither `last` nor `best` points to."""
    for path in root.glob("step-*"):
        if path.name not in keep:
            shutil.rmtree(path)


@dataclass
class Checkpoint:
    path: Path
    config: dict
    weights: dict[str, torch.Tensor]


def _folder(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file() and path.name == MODEL_FILE:
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint not found (expected a folder holding {MODEL_FILE} and "
                              f"{CONFIG_FILE}, e.g. runs/NAME/checkpoints/best)")
    return path


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The config and inference weights of a checkpoint folder (or its model.safetensors)."""
    folder = _folder(path)
    config = read_json(folder / CONFIG_FILE)
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise CheckpointError(f"{folder / CONFIG_FILE}: not a {FORMAT} v{VERSION} config")
    for key in ("task", "recipe", "model_config"):
        if key not in config:
            raise CheckpointError(f"{folder / CONFIG_FILE}: missing {key!r}")
    return Checkpoint(folder, config, read_tensors(folder / MODEL_FILE))


def inference_task(recipe, ckpt: Checkpoint):
    """The task of `recipe` for running the checkpoint's model: with what it learnt from its data (an ASR
    tokenizer) taken from the checkpoint, and without augmentation, nor the noise folder it would read."""
    task = recipe.model_copy(update={"augment": type(recipe.augment)()}).build_task()
    task.adopt(ckpt.config["model_config"])
    return task


def load_model(path: str | Path):
    """(recipe, task, model in eval mode, checkpoint) rebuilt from a checkpoint's own config."""
    from .recipe import validate_recipe
    ckpt = read_checkpoint(path)
    try:
        recipe = validate_recipe(ckpt.config["recipe"], source=str(ckpt.path / CONFIG_FILE))
    except RecipeError as err:
        raise CheckpointError(f"recipe inside checkpoint is invalid: {err}") from None
    task = inference_task(recipe, ckpt)
    model = task.build_model()
    if not _agrees(ckpt.config["model_config"], task.model_config()):
        raise CheckpointError(f"{ckpt.path / CONFIG_FILE}: model_config disagrees with its recipe")
    load_weights(model, ckpt.weights, source=ckpt.path / MODEL_FILE)
    return recipe, task, model.eval(), ckpt


def _agrees(stored, derived) -> bool:
    """Every value the checkpoint stored equals the one its recipe gives now. A model field added since the
    checkpoint was written is absent from `stored` and takes its default in both, so it is not a disagreement."""
    if isinstance(stored, dict) and isinstance(derived, dict):
        return all(key in derived and _agrees(value, derived[key]) for key, value in stored.items())
    return stored == derived


def load_weights(model: torch.nn.Module, weights: dict, *, source: Path) -> None:
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise CheckpointError(f"{source}: weights do not fit the model ({what}; "
                              f"{len(missing)} missing, {len(unexpected)} unexpected)")
    bad = [k for k, v in weights.items() if v.shape != expected[k].shape]
    if bad:
        raise CheckpointError(f"{source}: {bad[0]} has shape {tuple(weights[bad[0]].shape)}, the model "
                              f"expects {tuple(expected[bad[0]].shape)}")
    model.load_state_dict(weights)


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """An optimiser's state split into tensors (for safetensors) and JSON."""
    sd = optimizer.state_dict()
    tensors = {f"optim.{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items()}
    return tensors, {"param_groups": sd["param_groups"], "state_ids": sorted(sd["state"])}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state = {i: {} for i in meta["state_ids"]}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, i, name = key.split(".", 2)
            state[int(i)][name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
