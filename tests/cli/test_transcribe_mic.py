"""`centaurus transcribe --mic` through a real audio server: the bundled utterance is played into a private
PulseAudio null sink whose monitor is the default microphone, and the live transcript must be the one the
same model gives for the file."""
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jiwer


def _final(output: str, name: str) -> str:
    found = re.findall(rf"^{re.escape(name)}\t(.*)$", output, flags=re.MULTILINE)
    assert found, output
    return found[-1]


def test_mic_transcript_matches_the_file_transcript(pulse):
    samples = Path(str(resources.files("centaurus_pretrained"))) / "samples"
    utterance = samples / "utterance.flac"
    reference = (samples / "utterance.txt").read_text().strip()
    from_file = subprocess.run([sys.executable, "-m", "centaurus_cli.main", "transcribe", str(utterance)],
                               capture_output=True, text=True, timeout=120, check=False)
    assert from_file.returncode == 0, from_file.stderr
    file_text = _final(from_file.stdout, str(utterance))

    out = pulse.heard([sys.executable, "-m", "centaurus_cli.main", "transcribe", "--mic", "--seconds", "6"], utterance)
    assert "partial: " in out, out  # text appeared while the audio was still arriving
    # The small shipped model also spells letters into the seconds of silence after the speech, which the
    # file does not have; compare the speech's part. The server resamples to its own rate and back, so a
    # letter may differ; silence or a wrong device would not come close.
    mic_text = _final(out, "mic")[:len(file_text)]
    assert jiwer.cer(file_text, mic_text) <= 0.25, (file_text, mic_text)
    assert jiwer.cer(reference, mic_text) <= jiwer.cer(reference, file_text) + 0.1, (reference, mic_text)
    assert re.search(r"^mic: 6\.\d s of audio, RTF [\d.]+$", out, flags=re.MULTILINE), out
