"""BPE tokens for CTC ASR: learnt from the training transcripts, carried by the checkpoint, used by every decoder."""
import json
import shutil

import pytest
import torch

from centaurus.audio import load_audio
from centaurus.data import CHARACTERS, VOCAB, LibriSpeech, Tokenizer
from centaurus.streaming.transcribe import Transcriber
from centaurus.tasks import greedy_decode
from centaurus.training import load_model, train, validate_recipe
from tests.tasks.test_tasks_learn import asr_recipe, first_last
from tests.training.corpora import make_asr

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "that is the thing"] * 5


def test_bpe_learns_pieces_deterministically_and_round_trips():
    bpe = Tokenizer.train_bpe(TEXTS, 40)
    assert bpe.config() == Tokenizer.train_bpe(TEXTS, 40).config()
    assert len(json.dumps(bpe.config())) < 4000  # small enough for a checkpoint's JSON config
    classes = bpe.encode("the cat sat on the log")
    assert 0 not in classes and max(classes) < bpe.classes
    assert len(classes) < len("the cat sat on the log")  # pieces span several characters
    assert bpe.decode(classes) == "the cat sat on the log"
    assert bpe.decode([0, *classes[:2], 0]) == bpe.decode(classes[:2])  # blanks are dropped
    again = Tokenizer.from_config(json.loads(json.dumps(bpe.config())))
    assert again.encode("a dog that sat") == bpe.encode("a dog that sat")
    assert CHARACTERS.classes == len(VOCAB) and CHARACTERS.decode(CHARACTERS.encode("it's ok")) == "it's ok"
    with pytest.raises(ValueError, match="transcripts"):
        Tokenizer.train_bpe([], 40)


@pytest.mark.slow  # 150 epochs: ~175 s on an AVX2-only 2-core host, the default suite's longest test
def test_bpe_run_learns_and_its_checkpoint_decodes_without_the_data(tmp_path):
    root = make_asr(tmp_path / "data")
    # The tone corpus has three letters, so 10 pieces (▁a, ▁aa, ...) already merge; '▁a' and 'a' are one tone
    # heard after a word gap or not, which takes more epochs to tell apart than characters need.
    recipe = asr_recipe(root, tmp_path / "run", epochs=150)
    recipe["model"].update(tokens="bpe", bpe_vocab=10)
    result = train(validate_recipe(recipe, source="t"), device="cpu", progress=False)
    first, last = first_last(result.train_log)
    assert last < 0.1 * first, (first, last)  # measured 40 -> 0.6
    assert result.best_metric < 0.5  # validation WER; an empty hypothesis scores 1.0; measured 0.08
    stored = json.loads((result.best_checkpoint / "config.json").read_text())["model_config"]
    assert stored["tokenizer"]["kind"] == "bpe"
    tokenizer = Tokenizer.from_config(stored["tokenizer"])
    assert stored["classifier"]["num_classes"] == tokenizer.classes
    recipe, task, model, _ = load_model(result.best_checkpoint)
    recipe.decode.beam_width = 4
    beam = recipe.build_task().evaluate(model, "test", device=torch.device("cpu"), batch_size=8)
    assert beam["metrics"]["cer"] < 0.5, beam["metrics"]  # an empty hypothesis scores 1.0; measured 0.26
    utterance = LibriSpeech(root, splits=["test-clean"]).items[0]
    with torch.no_grad():
        one_shot = model(load_audio(utterance.path)[None, None])[0]
    expected = greedy_decode(one_shot[None], [one_shot.shape[0]], tokenizer)[0]
    assert expected.strip()

    shutil.move(root, tmp_path / "moved")  # loading must not need the transcripts the pieces came from
    _, task, model, _ = load_model(result.best_checkpoint)
    assert task.tokenizer.config() == stored["tokenizer"]
    transcriber = Transcriber(model, chunk_ms=20)
    for piece in load_audio(tmp_path / "moved" / utterance.path.relative_to(root)).split(3000):
        transcriber.push(piece)
    assert transcriber.finish() == expected
