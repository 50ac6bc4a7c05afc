"""CTC ASR: a causal Centaurus encoder down-sampled to ~25-50 frames/s with a per-frame CTC head over
characters (`centaurus.data.VOCAB`, index 0 = blank) or BPE pieces learnt from the training transcripts.
Greedy and prefix beam-search decoding; WER and CER from jiwer.

Training data: the LibriSpeech-layout `train_splits` under `data.root`, or, with a `data.engine` section, whole
utterances drawn afresh by the dynamic mixing engine (`centaurus.data.mixing`): every training clip of its speech
pools with an English transcript, plus the `train_splits` of `data.corpus` when given, each through the engine's
voice, room, noise and device stages. `data.root` then holds only the validation and test splits."""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal

import jiwer
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from centaurus.audio import SAMPLE_RATE
from centaurus.data import CHARACTERS, LibriSpeech, Tokenizer, normalize_text
from centaurus.data.mixing import Clip, ClipSet, EngineSpec, MixingEngine
from centaurus.data.pools.split import training_clips
from centaurus.errors import DatasetError, RecipeError
from centaurus.layers import StreamingModule, StreamingSequential
from centaurus.models import CentaurusClassifier, ClassifierConfig

from .base import AugmentSpec, EngineItems, EpochItems, Strict, augmented, batches
from .ctc import EMPTY_BEAMS, Scorer, beam_step, best_path_step, best_prefix
from .frontend import (
    HOP,
    N_FFT,
    ClassifierSpec,
    classifier_config,
    frontend_config,
    frontend_latency,
    with_frontend,
)
from .lm import CharNgram, lm_scorer

ENGLISH = "en"  # pool clips whose language is this or a variant of it (en-US, en-GB) have usable transcripts


class ASRData(Strict):
    root: str
    train_splits: list[str] = ["train-clean-100"]
    valid_split: str = "dev-clean"
    test_split: str = "test-clean"
    max_seconds: float = 16.0  # longer training utterances are cropped (their transcript would not fit)
    # Train on the mixing engine instead of root's train_splits (see the module docstring); clips longer than
    # max_seconds are left out rather than cropped.
    engine: EngineSpec | None = None
    corpus: str | None = None  # with engine: a LibriSpeech-layout root whose train_splits join the engine's speech
    corpus_weight: float = Field(1.0, gt=0)  # ... drawn this often against each pool's weight


class ASRModel(ClassifierSpec):
    """Encoder config; 'logmel' frames at 100/s, so `downsample` [2, 2] gives 25 frames/s, while on 'raw'
    audio [4, 4, 5, 5] (R = 400) gives 40 frames/s."""

    channels: list[int] = [128, 128, 256, 256]
    downsample: list[int] = [1, 2, 1, 2]
    norm: Literal["batch", "layer"] | None = "layer"
    tokens: Literal["char", "bpe"] = "char"
    bpe_vocab: int = Field(128, ge=8)  # BPE pieces, characters included (fewer if the transcripts run out)


class ASRDecode(Strict):
    beam_width: int = Field(0, ge=0)  # 0 or 1: greedy best path; otherwise CTC prefix beam search
    lm: str | None = None  # a character n-gram LM (`centaurus lm`) for beam search
    lm_weight: float = Field(0.5, ge=0)
    lm_bonus: float = 1.0  # added per character, against the LM's preference for short transcripts
    # Paid by a word that leaves the LM's lexicon; 2.0 was best on the offline corpus's validation split and is
    # `centaurus transcribe`'s default too, so eval and transcribe decode alike. 0 needs no lexicon.
    lm_oov_penalty: float = Field(2.0, ge=0)


class CTCEncoder(StreamingModule):
    """(B, 1, L) → per-frame log-probabilities (B, ⌊L/R⌋, vocab). Causal, so it streams chunk by chunk."""

    def __init__(self, config: ClassifierConfig, tokenizer: Tokenizer = CHARACTERS):
        super().__init__()
        self.config, self.tokenizer = config, tokenizer  # the tokenizer turns decoded classes into text
        # The classifier's backbone is the causal SSM stack we want; its pooling head is not used.
        classifier = CentaurusClassifier(config)
        self.backbone, self.downsample_factor = classifier.backbone, classifier.downsample_factor
        self.head = nn.Linear(classifier.feature_channels, config.num_classes)

    def _log_probs(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h.transpose(1, 2)).float().log_softmax(-1)

    def init_state(self, batch_size, *, device=None, dtype=torch.float32):
        return self.backbone.init_state(batch_size, device=device, dtype=dtype)

    def forward_full(self, x):
        return self._log_probs(self.backbone.forward_full(x))

    def forward_chunk(self, x, state):
        h, state = self.backbone.forward_chunk(x, state)
        return self._log_probs(h), state


def greedy_decode(log_probs: torch.Tensor, lengths: list[int], tokenizer: Tokenizer = CHARACTERS) -> list[str]:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    return [tokenizer.decode(best_path_step(row[:n])[0]) for row, n in zip(log_probs.argmax(-1).tolist(), lengths)]


def prefix_beam_search(log_probs: torch.Tensor, *, beam_width: int, tokenizer: Tokenizer = CHARACTERS,
                       scorer: Scorer | None = None) -> str:
    """CTC prefix beam search over one utterance's (T, vocab) log-probs, with an optional LM `scorer`."""
    return best_prefix(beam_step(EMPTY_BEAMS, log_probs, beam_width=beam_width, scorer=scorer), tokenizer)


class ASRTask:
    name, metric, higher_is_better = "asr", "wer", False

    def __init__(self, *, data: ASRData, model: ASRModel, decode: ASRDecode, augment: AugmentSpec, seed: int):
        self.data, self.model_spec, self.decode_spec, self.seed = data, model, decode, seed
        if data.engine is not None and augment.enabled():
            raise RecipeError("augment: the mixing engine (data.engine) draws its own voices, rooms, noise and "
                              "devices; drop the augment section")
        if data.corpus is not None and data.engine is None:
            raise RecipeError("data.corpus: joins the engine's speech; without data.engine, set data.root instead")
        self.augment = augment.build(seed=seed)
        self.factor = math.prod(model.downsample) * (HOP if model.frontend == "logmel" else 1)
        self.ratio = math.prod(model.downsample)
        self._tokenizer = CHARACTERS if model.tokens == "char" else None

    @property
    def tokenizer(self) -> Tokenizer:
        """Characters, or BPE learnt from the training transcripts on first use (a checkpoint's own instead,
        after `adopt`)."""
        if self._tokenizer is None:
            texts = ([c.text for s in self._engine_speech for c in s.clips] if self.data.engine is not None
                     else [u.text for u in self._corpus("train").items])
            self._tokenizer = Tokenizer.train_bpe(texts, self.model_spec.bpe_vocab)
        return self._tokenizer

    def adopt(self, model_config: dict) -> None:
        """Take the tokenizer a checkpoint was trained with, so loading needs no training data."""
        if "tokenizer" in model_config:
            self._tokenizer = Tokenizer.from_config(model_config["tokenizer"])

    def output_frames(self, samples: int) -> int:
        """Output frames for an utterance of `samples`: what the front end leaves, then each down-sampling
        stage keeps only whole groups of its ratio (floors compose, so one floor by the product)."""
        if self.model_spec.frontend == "logmel":
            samples = (samples - N_FFT) // HOP + 1 if samples >= N_FFT else 0
        return samples // self.ratio

    def model_config(self) -> dict:
        return {**frontend_config(self.model_spec),
                "classifier": classifier_config(self.model_spec, num_classes=self.tokenizer.classes),
                "tokenizer": self.tokenizer.config()}

    def build_model(self) -> StreamingSequential:
        config = self.model_config()
        return with_frontend(config, CTCEncoder(ClassifierConfig(**config["classifier"]), self.tokenizer))

    def latency_samples(self, model) -> int:
        return frontend_latency(model)

    def _corpus(self, split: str) -> LibriSpeech:
        if self.data.corpus is not None and split == "train":
            return LibriSpeech(self.data.corpus, splits=tuple(self.data.train_splits))
        splits = {"train": self.data.train_splits, "valid": [self.data.valid_split], "test": [self.data.test_split]}
        return LibriSpeech(self.data.root, splits=tuple(splits[split]))

    @functools.cached_property
    def _engine_speech(self) -> list[ClipSet]:
        """The engine's speech: per speech pool its English training clips with a transcript (normalised as
        LibriSpeech's), then the corpus's training utterances grouped by speaker; none over max_seconds."""
        data, longest = self.data, int(self.data.max_seconds * SAMPLE_RATE)
        sets = []
        for entry in data.engine.speech_pools:
            folder = (Path(data.engine.pool_root).expanduser() / entry.pool).absolute()
            if not folder.is_dir():
                raise DatasetError(f"{folder}: pool {entry.pool!r} (speech_pools) not found; build it with "
                                   "`centaurus data pools`")
            clips = tuple(Clip(str(folder / c.path), f"{entry.pool}/{c.path}", f"{entry.pool}/{c.group}",
                               c.frames(SAMPLE_RATE), normalize_text(c.text))
                          for c in training_clips(folder)
                          if c.kind == "speech" and c.language.split("-")[0] == ENGLISH and normalize_text(c.text)
                          and c.duration * SAMPLE_RATE <= longest)
            if not clips:
                raise DatasetError(f"{folder}: pool {entry.pool!r} (speech_pools) has no English training clips "
                                   f"with a transcript of at most {data.max_seconds:g} s")
            sets.append(ClipSet(entry.pool, entry.weight, clips))
        if data.corpus is not None:
            corpus = LibriSpeech(data.corpus, splits=tuple(data.train_splits))
            clips = tuple(Clip(str(u.path), f"corpus/{u.utt_id}", f"corpus/{u.speaker}", n, u.text)
                          for u, n in zip(corpus.items, corpus.lengths()) if n <= longest and u.text)
            sets.append(ClipSet("corpus", data.corpus_weight, clips))
        return sets

    def _prepare(self, item, generator):
        wav, text = item
        return augmented(self.augment, wav[: int(self.data.max_seconds * SAMPLE_RATE)], generator), text

    def dataset(self, split: str, *, train: bool):
        if train and self.data.engine is not None:
            return EngineItems(MixingEngine(self.data.engine, segment_samples=None, seed=self.seed,
                                            speech=self._engine_speech), "text")
        base = self._corpus(split)
        return EpochItems(base, self._prepare, seed=self.seed) if train else base

    def collate(self, items):
        lengths = [w.shape[0] for w, _ in items]
        # Zero padding after the end cannot change earlier frames of a causal model.
        wav = torch.stack([F.pad(w, (0, max(lengths) - w.shape[0])) for w, _ in items])[:, None]
        targets = [torch.tensor(self.tokenizer.encode(t), dtype=torch.long) for _, t in items]
        return {"wav": wav, "frames": torch.tensor([self.output_frames(n) for n in lengths]),
                "targets": torch.cat(targets), "target_lengths": torch.tensor([len(t) for t in targets]),
                "text": [t for _, t in items]}

    def forward(self, model, batch):
        return model(batch["wav"])

    def loss(self, batch, outputs):
        return F.ctc_loss(outputs.float().transpose(0, 1), batch["targets"], batch["frames"],
                          batch["target_lengths"], blank=0, zero_infinity=True)

    def decode(self, batch, outputs) -> list[str]:
        lengths = batch["frames"].tolist()
        spec = self.decode_spec
        if spec.beam_width <= 1:  # a 1-wide prefix beam is not the best path; 0 and 1 mean greedy
            return greedy_decode(outputs, lengths, self.tokenizer)
        return [prefix_beam_search(lp[:n].cpu(), beam_width=spec.beam_width, tokenizer=self.tokenizer,
                                   scorer=self.scorer) for lp, n in zip(outputs, lengths)]

    @functools.cached_property
    def scorer(self) -> Scorer | None:
        """The recipe's language model as a beam-search scorer, or None without one."""
        spec = self.decode_spec
        if spec.lm is None:
            return None
        return lm_scorer(CharNgram.load(spec.lm), self.tokenizer, weight=spec.lm_weight, bonus=spec.lm_bonus,
                         oov_penalty=spec.lm_oov_penalty)

    @torch.no_grad()
    def evaluate(self, model, split, *, device, batch_size):
        model.eval()
        corpus = self._corpus(split)
        refs, hyps = [], []
        for batch in batches(corpus, batch_size, self.collate):
            hyps += self.decode(batch, model(batch["wav"].to(device)))
            refs += batch["text"]
        metrics = {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)), "examples": len(refs)}
        samples = [{"ref": r, "hyp": h} for r, h in list(zip(refs, hyps))[:5]]
        return {"metrics": metrics, "samples": samples}

    def plots(self, report, out_dir) -> list:
        return []
