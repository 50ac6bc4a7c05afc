"""Optimiser parameter groups: the SSM dynamics (A, log_dt) get their own learning rate and no weight decay."""
from torch import nn


def param_groups(model: nn.Module, *, lr: float, ssm_lr: float = 1e-3, weight_decay: float = 0.01) -> list[dict]:
    """Split `model`'s trainable parameters into AdamW groups.

    * parameters tagged `ssm_dynamics` (every `SSMLayer`'s A and log_dt): lr = ssm_lr, weight_decay = 0;
    * other matrices and tensors of ≥ 2 dims: lr, weight_decay;
    * vectors (biases, norm scales, skips): lr, weight_decay = 0.

    Returns:
        Groups for `torch.optim.AdamW(param_groups(model, lr=...))`; empty groups are left out.
    """
    dynamics, decayed, plain = [], [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        if getattr(p, "ssm_dynamics", False):
            dynamics.append(p)
        elif p.dim() >= 2:
            decayed.append(p)
        else:
            plain.append(p)
    groups = [dict(params=dynamics, lr=ssm_lr, weight_decay=0.0),
              dict(params=decayed, lr=lr, weight_decay=weight_decay),
              dict(params=plain, lr=lr, weight_decay=0.0)]
    return [g for g in groups if g["params"]]
