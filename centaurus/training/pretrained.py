"""Model names → checkpoint folders, in one place: a path is taken as it is, a name is looked up among the
models shipped in `pretrained/` (installed as the `centaurus_pretrained` package)."""
from importlib import resources
from pathlib import Path

from ..errors import CheckpointError


def shipped_models() -> dict[str, Path]:
    """Name → folder of every shipped model."""
    root = Path(str(resources.files("centaurus_pretrained")))
    return {p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()}


def resolve_checkpoint(model: str | Path) -> Path:
    """The checkpoint folder for a path or a shipped model's name."""
    path = Path(model)
    if path.exists():
        return path
    shipped = shipped_models()
    if str(model) in shipped:
        return shipped[str(model)]
    names = ", ".join(shipped) or "none yet"
    raise CheckpointError(f"{model}: neither a checkpoint folder nor a shipped model (shipped: {names})")


def model_label(model: str | Path) -> str:
    """A model's name in tables: a shipped name, a folder's name, or run/checkpoint for a run's checkpoint
    (runs/NAME/checkpoints/best → NAME/best)."""
    path = Path(model)
    if path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/{path.name}"
    return path.name
