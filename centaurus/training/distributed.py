"""DDP set-up from the variables `torchrun` exports (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT).

Single node, N processes:  torchrun --standalone --nproc-per-node N -m centaurus_cli.main train RECIPE
Multi-node (run on each):  torchrun --nnodes M --nproc-per-node N --node-rank K \\
                               --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m centaurus_cli.main train RECIPE
Backend: nccl on CUDA, gloo on CPU. `trainer.batch_size` is the global batch, split evenly over processes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return info


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
