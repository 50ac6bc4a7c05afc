"""Keyword spotting: a `CentaurusClassifier` on raw 16 kHz audio, cross-entropy with label smoothing;
accuracy, the confusion matrix and false accepts per hour on the background-noise stream.

Training data: the Speech Commands-layout clips under `data.root`, or, with a `data.engine` section, 1 s
examples drawn afresh by the mixing engine (`centaurus.data.mixing`; `data.root` then holds validation and test
only). There, a speech clip whose text is a class word (case and punctuation aside; "take-cover" is "Take
cover.") is that class where its pool is a `keyword_pools` pool; any other clip is `_unknown_` unless its text
contains a class word (a keyword inside a sentence, or a real take of it outside `keyword_pools`: such clips
are not used at all); `_silence_` is a noise clip in the speech's place, with noise behind it as usual."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from centaurus.audio import SAMPLE_RATE, load_audio
from centaurus.data import SpeechCommands
from centaurus.data.keyword import normalise
from centaurus.data.mixing import Clip, ClipSet, EngineSpec, MixingEngine, pool_clips
from centaurus.data.speech_commands import BACKGROUND, CLIP_SAMPLES, FOLDERS, SILENCE, UNKNOWN, task_classes
from centaurus.errors import DatasetError, RecipeError
from centaurus.layers import StreamingSequential
from centaurus.models import CentaurusClassifier, ClassifierConfig

from .base import AugmentSpec, EpochItems, Strict, augmented, batches
from .frontend import ClassifierSpec, classifier_config, frontend_config, frontend_latency, with_frontend
from .detection import (HOP_S, REFRACTORY_S, SMOOTH_S, WINDOW_S, Decisions, StreamScores, active_classes,
                        det_curve, false_accepts, misses, smoothing_hops)

SPLITS = {"train": "train", "valid": "validation", "test": "test"}


class KWSData(Strict):
    root: str
    # A Speech Commands word set, or "folders": the classes are the root's word folders, stored in checkpoints.
    task: Literal["35", "37", "12", "10", "folders"] = "35"
    silence_fraction: float = 0.1
    unknown_fraction: float = 0.1
    fa_threshold: float = 0.9  # eval's keyword threshold on streams where the model stores no thresholds
    negatives: str | None = None  # eval: recordings without keywords for false accepts per hour (None: the root's noise)
    engine: EngineSpec | None = None  # train on the mixing engine (1 s examples; see the module docstring)
    keyword_pools: list[str] | None = None  # engine: pools whose class-word clips are positives (None: all)
    exclude_groups: list[str] = Field(default_factory=list)  # engine: "<pool>/<group>" never used in training (held-out voices)
    engine_unknown: float = Field(0.3, ge=0, lt=1)  # engine: share of `_unknown_` examples
    engine_silence: float = Field(0.1, ge=0, lt=1)  # engine: share of `_silence_` examples
    # engine: share of all examples that are running `_unknown_` speech (words end to end, cut anywhere, as a
    # streaming window sees the onsets and ends of words); the rest hold one whole clip each
    engine_running: float = Field(0.0, ge=0, lt=1)


class KWSModel(ClassifierSpec):
    """The keyword spotter's classifier (the `ClassifierSpec` defaults)."""


class KWSLoss(Strict):
    label_smoothing: float = 0.1


def engine_clip_sets(spec: EngineSpec, classes: tuple[str, ...], *, keyword_pools: list[str] | None = None,
                     exclude_groups: list[str] = (), unknown: float = 0.3, silence: float = 0.1,
                     segment: int = CLIP_SAMPLES) -> list[ClipSet]:
    """The engine's labelled speech: one clip set per keyword (its clips at most `segment` long, so no
    example holds half a word), one of `_unknown_` clips and one of noise clips as `_silence_`, weighted so
    those two get the shares `unknown` and `silence` (where the classes have them) and the keywords the rest
    evenly. Pool split hold-outs and `exclude_groups` are never used."""
    index = {c: i for i, c in enumerate(classes)}
    words = {normalise(c): c for c in classes if c not in (UNKNOWN, SILENCE)}
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")
    excluded = set(exclude_groups)
    positives: dict[str, list[Clip]] = {c: [] for c in words.values()}
    others: list[Clip] = []
    for entry in spec.speech_pools:
        clips = pool_clips(spec.pool_root, entry, kind="speech", where="speech_pools")
        is_keyword_pool = keyword_pools is None or entry.pool in keyword_pools
        for clip in clips.clips:
            if clip.group in excluded:
                continue
            text = normalise(clip.text)
            if text in words and is_keyword_pool:
                if clip.frames <= segment:
                    word = words[text]
                    positives[word].append(Clip(clip.path, clip.id, clip.group, clip.frames, clip.text, index[word]))
            elif not pattern.search(text):
                others.append(Clip(clip.path, clip.id, clip.group, clip.frames, clip.text, index.get(UNKNOWN)))
    empty = [w for w, clips in positives.items() if not clips]
    if empty:
        raise DatasetError(f"{spec.pool_root}: no training clip of at most {segment / 16000:g} s says "
                           f"{empty[0]!r} in the speech pools")
    shares = {UNKNOWN: unknown if UNKNOWN in index else 0.0, SILENCE: silence if SILENCE in index else 0.0}
    each = (1 - sum(shares.values())) / len(positives)
    sets = [ClipSet(word, each, tuple(clips)) for word, clips in positives.items()]
    if shares[UNKNOWN] and others:
        sets.append(ClipSet(UNKNOWN, shares[UNKNOWN], tuple(others)))
    if shares[SILENCE]:
        noise = [c for p in spec.noise_pools
                 for c in pool_clips(spec.pool_root, p, kind="noise", where="noise_pools").clips]
        sets.append(ClipSet(SILENCE, shares[SILENCE], tuple(
            Clip(c.path, c.id, c.group, c.frames, "", index[SILENCE]) for c in noise if c.group not in excluded)))
    return sets


class _EngineItems(torch.utils.data.Dataset):
    """The engine's examples as (wav, label) training items, keyed (epoch, index) like `EpochItems`; a share
    `running_share` of them, picked by (seed, epoch, index), from the `running` engine instead."""

    def __init__(self, engine: MixingEngine, running: MixingEngine | None = None, running_share: float = 0.0):
        self.engine, self.running, self.running_share = engine, running, running_share

    def __len__(self):
        return len(self.engine)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        draw = np.random.default_rng([self.engine.seed, epoch, index, 1]).random()
        engine = self.running if self.running is not None and draw < self.running_share else self.engine
        example = engine[(epoch, index)]
        return example.noisy, example.label


class KWSTask:
    name, metric, higher_is_better = "kws", "accuracy", True

    def __init__(self, *, data: KWSData, model: KWSModel, loss: KWSLoss, augment: AugmentSpec, seed: int):
        self.data, self.model_spec, self.loss_spec, self.seed = data, model, loss, seed
        if data.engine is not None and augment.enabled():
            raise RecipeError("augment: the mixing engine (data.engine) draws its own noise, rooms and devices; "
                              "drop the augment section")
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
        if train and self.data.engine is not None:
            d = self.data
            speech = engine_clip_sets(d.engine, self.classes, keyword_pools=d.keyword_pools,
                                      exclude_groups=d.exclude_groups, unknown=d.engine_unknown,
                                      silence=d.engine_silence)
            spec = d.engine.model_copy(update={"fill": False})  # one word placed in each 1 s example
            engine = MixingEngine(spec, segment_samples=CLIP_SAMPLES, seed=self.seed, speech=speech)
            unknown = [s for s in speech if s.name == UNKNOWN]
            if not (d.engine_running and unknown):
                return _EngineItems(engine)
            running = MixingEngine(d.engine.model_copy(update={"fill": True}), segment_samples=CLIP_SAMPLES,
                                   seed=self.seed + 1, speech=unknown)
            return _EngineItems(engine, running, d.engine_running)
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
    def evaluate(self, model, split, *, device, batch_size, negatives: str | None = None,
                 thresholds: dict[str, float] | None = None):
        """Accuracy on the split's clips; then, streamed as `kws detect`/`listen` stream (the 'window'
        context) at `thresholds` (a model's stored ones; default `fa_threshold` for all): false accepts per hour
        on the recordings under `negatives` (default: the recipe's, else the root's `_background_noise_`),
        the miss rate on the split's keyword clips, and the DET curve."""
        model.eval()
        dataset = self._speech_commands(split)
        preds, labels = [], []
        for batch in batches(dataset, batch_size, self.collate):
            preds += model(batch["wav"].to(device)).argmax(-1).tolist()
            labels += batch["label"].tolist()
        labels, preds = np.array(labels, dtype=np.int64), np.array(preds, dtype=np.int64)
        metrics = {"accuracy": float((labels == preds).mean()) if labels.size else 0.0, "examples": int(labels.size)}
        confusion = np.zeros((len(self.classes),) * 2, dtype=np.int64)
        np.add.at(confusion, (labels, preds), 1)
        report = {"metrics": metrics, "classes": list(self.classes), "confusion": confusion.tolist()}
        folder = Path(negatives or self.data.negatives or Path(self.data.root) / BACKGROUND)
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3"))
        if not files:
            if negatives or self.data.negatives:
                raise DatasetError(f"{folder}: no recordings to count false accepts on")
            return report
        rule = Decisions(list(self.classes), active_classes(list(self.classes), None),
                         threshold=thresholds or self.data.fa_threshold, refractory_s=REFRACTORY_S,
                         smooth=smoothing_hops(SMOOTH_S, HOP_S))
        stream = [window_scores(model, load_audio(f, sample_rate=SAMPLE_RATE), device=device,
                                batch_size=batch_size) for f in files]
        clips = [window_scores(model, wav, device=device, batch_size=batch_size, keyword=self.classes[y])
                 for wav, y in dataset if not self.classes[y].startswith("_")]
        fa, missed = false_accepts(stream, rule), misses(clips, rule)
        metrics.update(false_accepts_per_hour=fa.per_hour, false_accepts=fa.count, negative_hours=fa.hours,
                       streamed_miss_rate=missed.rate)
        report.update(negatives=str(folder), thresholds="stored" if thresholds else self.data.fa_threshold,
                      false_accepts_by_keyword=fa.per_keyword, det=det_curve(clips, stream, rule),
                      _operating_point=(fa.per_hour, missed.rate))
        return report

    def plots(self, report, out_dir) -> list[Path]:
        from .plots import plot_confusion, plot_det  # matplotlib: 30 MB that inference never needs
        plots = [plot_confusion(np.array(report["confusion"]), report["classes"], Path(out_dir) / "confusion.png")]
        if "det" in report:
            plots.append(plot_det(report["det"], Path(out_dir) / "det.png",
                                  marks={"model's thresholds": report["_operating_point"]}))
        return plots


def window_scores(model: StreamingSequential, samples: torch.Tensor, *, device, batch_size: int = 64,
                  keyword: str | None = None, window_s: float = WINDOW_S, hop_s: float = HOP_S) -> StreamScores:
    """The posteriors the 'window' spotter (`centaurus.streaming.KeywordSpotter` and its ONNX step) decides on
    when `samples` (L,) are pushed from a reset and flushed, computed in batches: the front end runs once over
    the stream (it is frame-wise, so this equals running it hop by hop) and the classifier on the frames of
    the last window at every hop."""
    *layers, classifier = model.layers
    front = StreamingSequential(*layers).to(device)
    step = round(hop_s * SAMPLE_RATE) // (getattr(layers[0], "hop", 1) if layers else 1)  # frames per hop
    window, hop = round(window_s * SAMPLE_RATE), round(hop_s * SAMPLE_RATE)
    hops = (samples.shape[-1] + window // 2) // hop  # the spotter's flush adds half a window of silence
    audio = torch.cat([torch.zeros(window), samples.reshape(-1).float().cpu(), torch.zeros(window // 2)])
    with torch.inference_mode():
        frames = front(audio[None, None, :window + hops * hop].to(device), None)[0][0]   # (F, T)
        per_window = front(torch.zeros(1, 1, window, device=device), None)[0].shape[-1]
    windows = frames[:, step:per_window + hops * step].unfold(-1, per_window, step).permute(1, 0, 2)
    posteriors = []
    with torch.inference_mode():
        for start in range(0, hops, batch_size):
            posteriors.append(classifier(windows[start:start + batch_size]).softmax(-1).float().cpu())
    posteriors = torch.cat(posteriors).numpy() if posteriors else np.zeros((0, classifier.head[-1].out_features))
    return StreamScores(posteriors, np.arange(1, hops + 1) * hop / SAMPLE_RATE, samples.shape[-1] / SAMPLE_RATE,
                        keyword)
