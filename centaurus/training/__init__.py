"""The generic trainer, recipes, checkpoints and evaluation. Imports `centaurus.tasks` and below."""
from .checkpoint import load_model, read_checkpoint
from .evaluate import evaluate_checkpoint, model_info
from .pretrained import resolve_checkpoint, shipped_models
from .recipe import apply_override, load_recipe, validate_recipe
from .trainer import RunResult, lr_factor, resolve_device, train

__all__ = ["RunResult", "apply_override", "evaluate_checkpoint", "load_model", "load_recipe", "lr_factor",
           "model_info", "read_checkpoint", "resolve_checkpoint", "resolve_device", "shipped_models", "train",
           "validate_recipe"]
