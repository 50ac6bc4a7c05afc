"""Datasets from local roots in their official layouts, users' manifests, augmentation and corpus builders.

Imports only `centaurus.audio` and `centaurus.errors`.
"""
from centaurus.data.augment import Augment, AugmentConfig, simulate_rir
from centaurus.data.librispeech import LibriSpeech, Utterance, list_utterances
from centaurus.data.manifest import Manifest, ManifestDataset, ManifestRow, read_manifest
from centaurus.data.speech_commands import (
    SC10_WORDS,
    SC12_CLASSES,
    SC35_WORDS,
    ClipItem,
    SpeechCommands,
    fit_clip,
    list_items,
    task_classes,
)
from centaurus.data.text import CHARACTERS, VOCAB, Tokenizer, decode_indices, encode_text, normalize_text
from centaurus.data.voicebank import PairItem, VoiceBankDemand, list_pairs, noise_labels

__all__ = [
    "CHARACTERS", "SC10_WORDS", "SC12_CLASSES", "SC35_WORDS", "VOCAB", "Augment", "AugmentConfig", "ClipItem",
    "LibriSpeech", "Manifest", "ManifestDataset", "ManifestRow", "PairItem", "SpeechCommands", "Tokenizer", "Utterance",
    "VoiceBankDemand", "decode_indices", "encode_text", "fit_clip", "list_items", "list_pairs", "list_utterances",
    "noise_labels", "normalize_text", "read_manifest", "simulate_rir", "task_classes",
]
