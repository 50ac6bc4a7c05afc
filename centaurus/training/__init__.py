"""The generic trainer, recipes, checkpoints and evaluation. Imports `centaurus.tasks` and below.
Names load on first use, so resolving a shipped model's name does not import torch."""
from .._lazy import lazy_exports

_EXPORTS = {
    "load_model": ".checkpoint", "read_checkpoint": ".checkpoint",
    "evaluate_checkpoint": ".evaluate", "model_info": ".evaluate",
    "resolve_checkpoint": ".pretrained", "shipped_models": ".pretrained",
    "apply_override": ".recipe", "load_recipe": ".recipe", "validate_recipe": ".recipe",
    "RunResult": ".trainer", "lr_factor": ".trainer", "resolve_device": ".trainer", "train": ".trainer",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
