"""Run logs: CSV files (rewritten from the checkpoint's history on resume) and TensorBoard scalars."""
from __future__ import annotations

import csv
from pathlib import Path


class CsvLog:
    """Append rows to a CSV whose columns are fixed by the first row written."""

    def __init__(self, path: Path, rows: list[dict]):
        self.path, self.fields = path, None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        for row in rows:
            self.write(row)

    def write(self, row: dict) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


class TensorBoard:
    """Scalars under `out_dir/tensorboard`; on resume, events after the resumed step are dropped."""

    def __init__(self, out_dir: Path, *, start_step: int):
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=start_step or None)

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        self.writer.close()
