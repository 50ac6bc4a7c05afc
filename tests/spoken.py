"""Keywords spoken by espeak-ng: the recording the shipped kws-offline model is tested on."""
import subprocess
from pathlib import Path

import torch

from centaurus.audio import load_audio


def spoken_words(words: tuple[str, ...], folder: Path) -> list[torch.Tensor]:
    """[0.75 s of silence, word, 0.75 s of silence, word, ...] at 16 kHz, each word by espeak-ng's en-us voice."""
    parts = []
    for word in words:
        path = folder / f"{word}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), word], check=True)
        parts += [torch.zeros(12000), load_audio(path)]
    return parts
