"""PNG plots with matplotlib's Agg backend (no display needed): curves, confusion matrix, spectrograms."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_curves(steps: list[int], series: dict[str, list[float]], path: Path, *, xlabel: str = "step") -> Path:
    """One panel per named series against `steps`."""
    fig, axes = plt.subplots(len(series), 1, figsize=(6, 2.4 * len(series)), squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], series.items()):
        ax.plot(steps[: len(values)], values)
        ax.set_ylabel(name)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion(confusion: np.ndarray, classes: list[str], path: Path) -> Path:
    """Row-normalised confusion matrix (rows: true class)."""
    rows = confusion.sum(1, keepdims=True).clip(min=1)
    size = max(4, 0.3 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(confusion / rows, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax)
    return _save(fig, path)


def plot_spectrograms(waves: dict[str, np.ndarray], path: Path, *, sample_rate: int) -> Path:
    """Log spectrograms of several waveforms (e.g. noisy, enhanced, clean) stacked for comparison."""
    fig, axes = plt.subplots(len(waves), 1, figsize=(7, 2.2 * len(waves)), squeeze=False)
    for ax, (name, wav) in zip(axes[:, 0], waves.items()):
        ax.specgram(wav, NFFT=512, Fs=sample_rate, noverlap=384, cmap="magma", vmin=-120)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("s")
    return _save(fig, path)


def plot_det(curve: dict[str, list[float]], path: Path, *, marks: dict[str, tuple[float, float]] | None = None
             ) -> Path:
    """Detection error trade-off of a keyword spotter: miss rate against false accepts per hour, one point per
    threshold (`detection.det_curve`); `marks` labels chosen operating points {name: (fa_per_hour, miss_rate)}."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    fa, miss = np.array(curve["false_accepts_per_hour"]), 100 * np.array(curve["miss_rate"])
    ax.plot(fa, miss, marker=".", markersize=3)
    for t, x, y in zip(curve["threshold"], fa, miss):
        if round(t * 100) % 10 == 0:
            ax.annotate(f"{t:.1f}", (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    for name, (x, y) in (marks or {}).items():
        ax.plot([x], [100 * y], "o", label=name)
    if marks:
        ax.legend(fontsize=8)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("miss rate (%)")
    ax.set_title("DET curve (labels: threshold)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
