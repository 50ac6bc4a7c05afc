"""Streaming CTC transcription with a really trained tiny model: the streamed text equals decoding the whole
file at once, at any chunk size, greedy and beam; and the incremental decoders equal the whole-utterance ones."""
from pathlib import Path

import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from centaurus.audio import iter_blocks, load_audio
from centaurus.data import VOCAB, decode_indices
from centaurus.streaming.transcribe import Transcriber
from centaurus.tasks import greedy_decode, prefix_beam_search
from centaurus.tasks.asr import EMPTY_BEAMS, beam_step, best_path_step, best_prefix
from centaurus.training import load_model, train, validate_recipe
from tests.tasks.test_ctc_decode import random_log_probs
from tests.tasks.test_tasks_learn import asr_recipe
from tests.training.corpora import make_asr

# A 400-step schedule, stopped while the learning rate is still high at the first of these steps where the model
# emits several letters: its first few hundred steps are chaotic, so that step moves with any change in rounding.
# Measured (~15 s on 2 busy cores): after 120 steps greedy "ab bc b a aaa", beam "ab c b a aaa" for
# "a aba aa ccb a a"; the same 120 steps after a change in one tensor's memory layout: "a a a". A schedule that
# has decayed by then leaves a model that emits one or two letters for everything.
TRAIN_STAGES, EPOCHS = (120, 160, 200, 240), 200


def _greedy(checkpoint: Path, speech: Path) -> tuple[torch.nn.Module, torch.Tensor, str]:
    _, _, model, _ = load_model(checkpoint)
    with torch.no_grad():
        one_shot = model(load_audio(speech)[None, None])                    # (1, frames, vocab)
    return model, one_shot, greedy_decode(one_shot, [one_shot.shape[1]])[0]


def tiny_asr(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, wav of two utterances): trained and written once per session, for this module and the CLI's."""
    base = tmp_path_factory.getbasetemp() / "tiny-asr"
    checkpoint, speech = base / "run" / "checkpoints" / "last", base / "speech.wav"
    if not speech.exists():
        root = make_asr(base / "data", per_split={"train-clean-100": 16, "dev-clean": 2, "test-clean": 2})
        torch.manual_seed(0)
        recipe = asr_recipe(root, base / "run", epochs=EPOCHS)  # 16 utterances in batches of 8: 2 steps/epoch
        utterances = [load_audio(p) for p in sorted((root / "test-clean").rglob("*.flac"))]
        sf.write(speech, torch.cat(utterances).numpy(), 16000)
        for stage, steps in enumerate(TRAIN_STAGES):
            train(validate_recipe(recipe, source="t"), device="cpu", progress=False, stop_after=steps,
                  resume=stage > 0)
            if len(set(_greedy(checkpoint, speech)[2]) - {" "}) >= 2:
                break
    return checkpoint, speech


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    checkpoint, speech = tiny_asr(tmp_path_factory)
    model, one_shot, _ = _greedy(checkpoint, speech)
    return model, speech, one_shot


def _stream(transcriber: Transcriber, speech: Path, push_samples: int) -> tuple[list[str], str]:
    partials = [transcriber.push(block) for block in iter_blocks(speech, block_samples=push_samples)]
    return partials, transcriber.finish()


@pytest.mark.parametrize("chunk_ms, push_samples", [(7, 8000), (16, 1234), (40, 8000), (333, 777)])
def test_streamed_greedy_equals_one_shot(trained, chunk_ms, push_samples):
    model, speech, one_shot = trained
    expected = greedy_decode(one_shot, [one_shot.shape[1]])[0]
    assert len(set(expected) - {" "}) >= 2, expected  # not vacuous: several letters, not just blanks
    partials, final = _stream(Transcriber(model, chunk_ms=chunk_ms), speech, push_samples)
    assert final == expected
    assert all(final.startswith(p) for p in partials)  # the best path only ever grows
    assert any(0 < len(p) < len(final) for p in partials)  # text arrives while the audio is still coming


@pytest.mark.parametrize("chunk_ms", [7, 40])
def test_streamed_beam_equals_whole_utterance_beam_search(trained, chunk_ms):
    model, speech, one_shot = trained
    expected = prefix_beam_search(one_shot[0], beam_width=4)
    assert len(set(expected) - {" "}) >= 2, expected
    assert _stream(Transcriber(model, beam_width=4, chunk_ms=chunk_ms), speech, 8000)[1] == expected


def test_reset_starts_a_new_utterance(trained):
    model, speech, one_shot = trained
    transcriber = Transcriber(model, chunk_ms=20)
    transcriber.push(torch.randn(5000))
    transcriber.reset()
    assert transcriber.text == ""
    assert _stream(transcriber, speech, 8000)[1] == greedy_decode(one_shot, [one_shot.shape[1]])[0]


def _cuts(total: int, generator: torch.Generator) -> list[int]:
    """Random chunk lengths (some empty) summing to `total`."""
    cuts = sorted(torch.randint(0, total + 1, (6,), generator=generator).tolist())
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


def test_incremental_beam_search_equals_prefix_beam_search():
    gen = torch.Generator().manual_seed(3)
    for sharpness in (1.0, 3.0):
        for _ in range(10):
            lp = random_log_probs(gen, 30, 5, sharpness)
            beams = EMPTY_BEAMS
            for piece in lp.split(_cuts(30, gen)):
                beams = beam_step(beams, piece, beam_width=6)
            assert best_prefix(beams) == prefix_beam_search(lp, beam_width=6)


def test_best_path_merges_repeats_across_chunk_boundaries():
    a, b = VOCAB.index("a"), VOCAB.index("b")
    path = [0, a, a, a, 0, a, b, b, 0, 0, b, b, a]  # a repeat merges unless a blank separates it: "aabba"
    one_shot = F.one_hot(torch.tensor(path), len(VOCAB)).float().log()[None]     # (1, frames, vocab)
    assert greedy_decode(one_shot, [len(path)]) == ["aabba"]
    for cut in range(len(path) + 1):  # every boundary, including inside each run of repeats
        tokens, last = best_path_step(path[:cut])
        more, _ = best_path_step(path[cut:], last=last)
        assert decode_indices(tokens + more) == "aabba"
