"""Writes the bundled demo samples (16 kHz mono FLAC) from licence-clean offline sources; see README.md here.

Run from the repository root after `make setup`: `python pretrained/samples/make_samples.py [--out DIR]`.
The same tools and seeds give the same files, so the samples are rebuilt, never hand-edited.
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from centaurus.audio import save_audio
from centaurus.data.builders.common import SAMPLE_RATE, TTS_TOOLS, Voice, coloured_noise, require, synthesize
from centaurus.data.builders.denoise import mix_at_snr
from centaurus.data.text import normalize_text

SEED = 0
# Both sentences are example sentences quoted in WordNet 3.0's glosses, the text of `centaurus data asr`.
DENOISE_TEXT = "Helen Keller felt the physical world by touching people and objects around her"
ASR_TEXT = "red and gold are the characteristic colors of autumn"
SNR_DB = 5.0
# The voice and words the shipped kws-offline model is tested on (tests/streaming/test_kws.py), plus "seven".
KWS_VOICE = Voice("espeak-ng", "en-us", 50, 150)
KEYWORDS = ("yes", "stop", "left", "seven")


def _peak(wav: torch.Tensor, level: float) -> torch.Tensor:
    return level * wav / wav.abs().max().clamp_min(1e-6)


def swelling_noise(samples: int, rng: np.random.Generator) -> torch.Tensor:
    """Pink noise under a smooth random envelope spanning ~20 dB: non-stationary, and generated here, so the
    sample carries no third-party audio."""
    knots = np.exp(1.2 * rng.standard_normal(samples // (SAMPLE_RATE // 4) + 2))   # a level every 0.25 s
    envelope = np.interp(np.arange(samples), np.linspace(0, samples, knots.shape[0]), knots)
    return coloured_noise(samples, exponent=1.0, rng=rng) * torch.from_numpy(envelope).float()


def noisy_speech(out: Path) -> None:
    """`clean_speech.flac` by festival's HTS voice and `noisy_speech.flac`: it mixed with swelling pink noise
    at 5 dB."""
    clean = _peak(synthesize(Voice("festival", "cmu_us_slt_arctic_hts", 0, 1.0), [DENOISE_TEXT])[0], 0.5)
    clean = torch.cat([torch.zeros(SAMPLE_RATE // 4), clean, torch.zeros(SAMPLE_RATE // 4)])
    # A -80 dBFS floor, as any recording has: digital silence has no log spectrum to plot.
    clean = clean + 1e-4 * coloured_noise(clean.shape[0], exponent=0.0, rng=np.random.default_rng(SEED))
    noisy, clean = mix_at_snr(clean, swelling_noise(clean.shape[0], np.random.default_rng(SEED + 1)), SNR_DB)
    save_audio(out / "clean_speech.flac", clean, SAMPLE_RATE)
    save_audio(out / "noisy_speech.flac", noisy, SAMPLE_RATE)


def keywords(out: Path) -> None:
    """`keywords.flac`: the keywords 1 s apart over faint pink noise, and `keywords.txt`: them, in order."""
    quiet = torch.zeros(SAMPLE_RATE)
    parts = [quiet]
    for word in synthesize(KWS_VOICE, list(KEYWORDS)):
        parts += [_peak(word, 0.5), quiet]
    speech = torch.cat(parts)
    noise = 0.003 * coloured_noise(speech.shape[0], exponent=1.0, rng=np.random.default_rng(SEED))  # ~ -50 dBFS
    save_audio(out / "keywords.flac", speech + noise, SAMPLE_RATE)
    (out / "keywords.txt").write_text(" ".join(KEYWORDS) + "\n")


def utterance(out: Path) -> None:
    """`utterance.flac`: one sentence by flite's kal voice, and `utterance.txt`: its normalised transcript."""
    wav = synthesize(Voice("flite", "kal", 0, 1.0), [ASR_TEXT])[0]
    save_audio(out / "utterance.flac", _peak(wav, 0.9), SAMPLE_RATE)  # peak level as in `centaurus data asr`
    (out / "utterance.txt").write_text(normalize_text(ASR_TEXT) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent, help="folder to write into")
    out = parser.parse_args().out
    require(TTS_TOOLS)
    out.mkdir(parents=True, exist_ok=True)
    for make in (noisy_speech, keywords, utterance):
        make(out)
    for path in sorted(out.glob("*.flac")):
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
