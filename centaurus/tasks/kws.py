"""Keyword spotting: a `CentaurusClassifier` on raw 16 kHz audio, cross-entropy with label smoothing;
accuracy, the confusion matrix and false accepts per hour on the background-noise stream."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.data import SpeechCommands
from centaurus.data.speech_commands import BACKGROUND, FOLDERS, SILENCE, UNKNOWN, task_classes
from centaurus.layers import StreamingSequential
from centaurus.models import CentaurusClassifier, ClassifierConfig

from .base import AugmentSpec, EpochItems, Strict, augmented, batches
from .frontend import ClassifierSpec, classifier_config, frontend_config, frontend_latency, with_frontend
from .plots import plot_confusion

SPLITS = {"train": "train", "valid": "validation", "test": "test"}


class KWSData(Strict):
    root: str
    # A Speech Commands word set, or "folders": the classes are the root's word folders, stored in checkpoints.
    task: Literal["35", "12", "10", "folders"] = "35"
    silence_fraction: float = 0.1
    unknown_fraction: float = 0.1
    fa_threshold: float = 0.9  # a background window counts as a false accept at this keyword probability


class KWSModel(ClassifierSpec):
    """The keyword spotter's classifier (the `ClassifierSpec` defaults)."""


class KWSLoss(Strict):
    label_smoothing: float = 0.1


class KWSTask:
    name, metric, higher_is_better = "kws", "accuracy", True

    def __init__(self, *, data: KWSData, model: KWSModel, loss: KWSLoss, augment: AugmentSpec, seed: int):
        self.data, self.model_spec, self.loss_spec, self.seed = data, model, loss, seed
        self.augment = augment.build(seed=seed)
        self._classes = None if data.task == FOLDERS else task_classes(data.task)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names in output order; a "folders" task reads them from its root when first asked."""
        if self._classes is None:
            self._classes = task_classes(FOLDERS, self.data.root)
        return self._classes

    def model_config(self) -> dict:
        config = {**frontend_config(self.model_spec),
                  "classifier": classifier_config(self.model_spec, num_classes=len(self.classes))}
        if self.data.task == FOLDERS:  # a Speech Commands word set is named by the recipe
            config["classes"] = list(self.classes)
        return config

    def adopt(self, model_config: dict) -> None:
        """A "folders" model keeps the classes it was trained on, whatever folders a data root holds now."""
        if "classes" in model_config:
            self._classes = tuple(model_config["classes"])

    def build_model(self) -> StreamingSequential:
        config = self.model_config()
        return with_frontend(config, CentaurusClassifier(ClassifierConfig(**config["classifier"])))

    def latency_samples(self, model) -> int:
        return frontend_latency(model)

    def _speech_commands(self, split: str) -> SpeechCommands:
        d = self.data
        return SpeechCommands(d.root, split=SPLITS[split], task=d.task, silence_fraction=d.silence_fraction,
                              unknown_fraction=d.unknown_fraction, seed=self.seed, classes=self.classes)

    def dataset(self, split: str, *, train: bool):
        base = self._speech_commands(split)
        if not train:
            return base
        return EpochItems(base, lambda item, gen: (augmented(self.augment, item[0], gen), item[1]), seed=self.seed)

    def collate(self, items):
        return {"wav": torch.stack([w for w, _ in items])[:, None], "label": torch.tensor([y for _, y in items])}

    def forward(self, model, batch):
        return model(batch["wav"])

    def loss(self, batch, outputs):
        return F.cross_entropy(outputs.float(), batch["label"], label_smoothing=self.loss_spec.label_smoothing)

    def decode(self, batch, outputs) -> list[str]:
        return [self.classes[i] for i in outputs.argmax(-1).tolist()]

    @torch.no_grad()
    def evaluate(self, model, split, *, device, batch_size):
        model.eval()
        dataset = self._speech_commands(split)
        preds, labels = [], []
        for batch in batches(dataset, batch_size, self.collate):
            preds += model(batch["wav"].to(device)).argmax(-1).tolist()
            labels += batch["label"].tolist()
        metrics = {"accuracy": float(accuracy_score(labels, preds)), "examples": len(labels)}
        metrics.update(self._false_accepts(model, device=device, batch_size=batch_size))
        confusion = confusion_matrix(labels, preds, labels=list(range(len(self.classes))))
        return {"metrics": metrics, "classes": list(self.classes), "confusion": confusion.tolist()}

    def _false_accepts(self, model, *, device, batch_size) -> dict:
        """1 s windows every 0.5 s over `_background_noise_`: how often a keyword fires with probability ≥
        `fa_threshold`, per hour of background audio."""
        files = sorted((Path(self.data.root) / BACKGROUND).glob("*.wav"))
        keywords = torch.tensor([c not in (SILENCE, UNKNOWN) for c in self.classes], device=device)
        windows = [w for f in files for w in load_audio(f, sample_rate=SAMPLE_RATE).unfold(0, SAMPLE_RATE,
                                                                                          SAMPLE_RATE // 2)]
        if not windows:
            return {}
        accepts = 0
        for start in range(0, len(windows), batch_size):
            x = torch.stack(windows[start:start + batch_size])[:, None].to(device)
            prob, cls = model(x).softmax(-1).max(-1)
            accepts += int(((prob >= self.data.fa_threshold) & keywords[cls]).sum())
        hours = len(windows) * 0.5 / 3600  # each window adds 0.5 s of new audio
        return {"false_accepts_per_hour": accepts / hours, "background_hours": hours}

    def plots(self, report, out_dir) -> list[Path]:
        return [plot_confusion(np.array(report["confusion"]), report["classes"], Path(out_dir) / "confusion.png")]
