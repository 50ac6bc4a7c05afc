"""Datasets from local roots in their official layouts, users' manifests, augmentation and corpus builders.

Imports only `centaurus.audio` and `centaurus.errors`.
"""
from centaurus._lazy import lazy_exports

# Names load on first use, so the transcripts' vocabulary (`text`) comes without torch.
_EXPORTS = {
    **dict.fromkeys(["Augment", "AugmentConfig", "simulate_rir"], ".augment"),
    **dict.fromkeys(["LibriSpeech", "Utterance", "list_utterances"], ".librispeech"),
    **dict.fromkeys(["Manifest", "ManifestDataset", "ManifestRow", "read_manifest"], ".manifest"),
    **dict.fromkeys(["SC10_WORDS", "SC12_CLASSES", "SC35_WORDS", "SC37_CLASSES", "ClipItem", "SpeechCommands",
                     "fit_clip", "list_items", "task_classes"], ".speech_commands"),
    **dict.fromkeys(["CHARACTERS", "VOCAB", "Tokenizer", "decode_indices", "encode_text", "normalize_text"], ".text"),
    **dict.fromkeys(["PairItem", "VoiceBankDemand", "list_pairs", "noise_labels"], ".voicebank"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
