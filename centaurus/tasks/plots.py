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
