"""The real loaders on hand-made fixtures in the official layouts, with exact split counts."""
import numpy as np
import pytest
import soundfile as sf
import torch

from centaurus.data import librispeech, manifest, voicebank
from centaurus.data import speech_commands as sc
from centaurus.data.text import decode_indices, encode_text, normalize_text
from centaurus.errors import AudioError, DatasetError


def _wav(path, seconds=0.25, rate=16000, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(seed).standard_normal(int(seconds * rate)).astype(np.float32) * 0.1
    sf.write(path, x, rate)


@pytest.fixture
def sc_root(tmp_path):
    """v2 layout: 6 words x 5 speakers; speaker s3 is in validation, s4 in test; 2 noise files."""
    root = tmp_path / "sc"
    for w in ("yes", "no", "cat", "dog", "learn", "visual"):
        for s in range(5):
            _wav(root / w / f"s{s}_nohash_0.wav")
    (root / "validation_list.txt").write_text("".join(f"{w}/s3_nohash_0.wav\n" for w in ("yes", "no", "cat", "dog",
                                                                                       "learn", "visual")))
    (root / "testing_list.txt").write_text("".join(f"{w}/s4_nohash_0.wav\n" for w in ("yes", "no", "cat", "dog",
                                                                                    "learn", "visual")))
    _wav(root / sc.BACKGROUND / "white.wav", seconds=3.0)
    _wav(root / sc.BACKGROUND / "pink.wav", seconds=2.0)
    return root


def test_speech_commands_split_counts(sc_root):
    assert [len(sc.list_items(sc_root, split=s, task="35")) for s in sc.SPLITS] == [18, 6, 6]
    assert [len(sc.list_items(sc_root, split=s, task="10")) for s in sc.SPLITS] == [6, 2, 2]
    twelve = sc.list_items(sc_root, split="train", task="12", unknown_fraction=1.0, silence_fraction=0.5)
    labels = [it.label for it in twelve]
    assert labels.count("yes") == 3 and labels.count(sc.UNKNOWN) == 6 and labels.count(sc.SILENCE) == 3
    assert twelve == sc.list_items(sc_root, split="train", task="12", unknown_fraction=1.0, silence_fraction=0.5)
    # "37": every word (nothing is left over for _unknown_) plus the silence cuts
    open_set = [it.label for it in sc.list_items(sc_root, split="train", task="37", silence_fraction=0.5)]
    assert sc.task_classes("37")[:35] == sc.SC35_WORDS and sc.task_classes("37")[35:] == (sc.UNKNOWN, sc.SILENCE)
    assert len(open_set) == 18 + 9 and open_set.count(sc.SILENCE) == 9 and sc.UNKNOWN not in open_set
    def speakers(split):
        return {it.path.name.split("_")[0] for it in sc.list_items(sc_root, split=split)}
    assert speakers("train") == {"s0", "s1", "s2"} and speakers("validation") == {"s3"}


def test_speech_commands_dataset_pads_and_cuts_silence(sc_root):
    ds = sc.SpeechCommands(sc_root, split="train", task="12", unknown_fraction=0.0, silence_fraction=1.0)
    assert ds.classes == sc.SC12_CLASSES and len(ds) == 12
    for wav, label in ds:
        assert wav.shape == (16000,) and wav.dtype == torch.float32
        if ds.classes[label] != sc.SILENCE:
            assert wav[4000:].abs().max() == 0  # 0.25 s clip, zero-padded
        else:
            assert wav.abs().min() > 0 or wav.std() > 0.05
    assert sc.SpeechCommands(sc_root, split="test", task="35")[0][1] == sc.SC35_WORDS.index("cat")


def test_speech_commands_bad_roots(tmp_path, sc_root):
    with pytest.raises(DatasetError, match="root not found"):
        sc.list_items(tmp_path / "nope", split="train")
    (sc_root / "testing_list.txt").unlink()
    with pytest.raises(DatasetError, match="missing testing_list.txt"):
        sc.list_items(sc_root, split="train")
    (sc_root / "testing_list.txt").write_text("yes/ghost_nohash_0.wav\n")
    with pytest.raises(DatasetError, match="ghost"):
        sc.list_items(sc_root, split="test")
    with pytest.raises(DatasetError, match="unknown Speech Commands task"):
        sc.list_items(sc_root, split="test", task="20")


@pytest.fixture
def vb_root(tmp_path):
    root = tmp_path / "vb"
    for split, n in (("train", 4), ("test", 2)):
        clean, noisy = voicebank.FOLDERS[split]
        for i in range(n):
            _wav(root / clean / f"p2{i:02d}_{i:03d}.wav", rate=48000, seed=i)
            _wav(root / noisy / f"p2{i:02d}_{i:03d}.wav", rate=48000, seed=100 + i)
    return root


def test_voicebank_pairs_resampled(vb_root):
    assert [len(voicebank.list_pairs(vb_root, split=s)) for s in ("train", "test")] == [4, 2]
    noisy, clean = voicebank.VoiceBankDemand(vb_root, split="test")[1]
    assert noisy.shape == clean.shape == (4000,)  # 0.25 s at 48 kHz -> 16 kHz
    (vb_root / "noisy_testset_wav" / "p200_000.wav").unlink()
    with pytest.raises(DatasetError, match="p200_000.wav: has no partner"):
        voicebank.list_pairs(vb_root, split="test")
    with pytest.raises(DatasetError, match="missing folder clean_trainset_28spk_wav"):
        voicebank.list_pairs(vb_root / "noisy_testset_wav", split="train")


def test_voicebank_noise_labels(vb_root):
    assert voicebank.noise_labels(vb_root, split="test") == {}  # no log: nothing to group by
    (vb_root / "log_testset.txt").write_text("p200_000 cafeteria 2.5\np200_001 bus 17.5\n\n")
    assert voicebank.noise_labels(vb_root, split="test") == {"p200_000": "cafeteria", "p200_001": "bus"}


@pytest.fixture
def ls_root(tmp_path):
    root = tmp_path / "LibriSpeech"
    for split, speakers in (("train-clean-100", ("19", "26")), ("dev-clean", ("84",))):
        for spk in speakers:
            chapter = root / split / spk / "198"
            chapter.mkdir(parents=True)
            lines = []
            for u in range(3):
                utt = f"{spk}-198-{u:04d}"
                sf.write(chapter / f"{utt}.flac", np.full(1600, 0.01, np.float32), 16000)
                lines.append(f"{utt} NORTHANGER ABBEY'S {u} TIMES\n")
            (chapter / f"{spk}-198.trans.txt").write_text("".join(lines))
    return root


def test_librispeech_splits_and_text(ls_root):
    train = librispeech.list_utterances(ls_root, split="train-clean-100")
    assert len(train) == 6 and {u.speaker for u in train} == {"19", "26"}
    assert train[0].utt_id == "19-198-0000" and train[0].text == "northanger abbey's times"
    ds = librispeech.LibriSpeech(ls_root, splits=("train-clean-100", "dev-clean"))
    wav, text = ds[7]
    assert len(ds) == 9 and wav.shape == (1600,) and text == "northanger abbey's times"
    with pytest.raises(DatasetError, match="missing test-clean/"):
        librispeech.list_utterances(ls_root, split="test-clean")
    (ls_root / "dev-clean" / "84" / "198" / "84-198-0001.flac").unlink()
    with pytest.raises(DatasetError, match="84-198-0001.flac is missing"):
        librispeech.list_utterances(ls_root, split="dev-clean")


def test_librispeech_lengths_come_from_the_headers(ls_root):
    chapter = ls_root / "train-clean-100" / "26" / "198"
    sf.write(chapter / "26-198-0001.flac", np.zeros(4000, np.float32), 16000)
    sf.write(chapter / "26-198-0002.flac", np.zeros(4000, np.float32), 8000)  # counted at 16 kHz: 8000
    ds = librispeech.LibriSpeech(ls_root, splits=("train-clean-100",))
    assert ds.lengths() == [1600, 1600, 1600, 1600, 4000, 8000] == [ds[i][0].shape[0] for i in range(6)]
    (chapter / "26-198-0000.flac").write_bytes(b"not audio")
    with pytest.raises(AudioError, match="26-198-0000.flac"):
        librispeech.LibriSpeech(ls_root, splits=("train-clean-100",)).lengths()


def test_normalize_text():
    assert normalize_text("Don't  STOP—it's 5 o\u2019clock, 'Zoë'!") == "don't stop it's o'clock zoe"
    assert decode_indices(encode_text("it's ok")) == "it's ok"


@pytest.mark.parametrize("sep,ext", [("\t", "tsv"), (",", "csv")])
def test_manifest_kinds(tmp_path, sep, ext):
    for name in ("a.wav", "b.wav", "c.wav"):
        _wav(tmp_path / "audio" / name)
    (tmp_path / f"l.{ext}").write_text(f"path{sep}label\naudio/a.wav{sep}dog\naudio/b.wav{sep}cat\n")
    ds = manifest.ManifestDataset(tmp_path / f"l.{ext}")
    assert ds.classes == ["cat", "dog"] and ds[0][1] == 1 and ds[1][0].shape == (4000,)
    (tmp_path / f"t.{ext}").write_text(f"path{sep}text\naudio/c.wav{sep}Hello World\n")
    assert manifest.ManifestDataset(tmp_path / f"t.{ext}")[0][1] == "hello world"
    (tmp_path / f"p.{ext}").write_text(f"path{sep}clean_path\naudio/a.wav{sep}audio/b.wav\n")
    noisy, clean = manifest.ManifestDataset(tmp_path / f"p.{ext}")[0]
    assert noisy.shape == clean.shape == (4000,)
    (tmp_path / f"bad.{ext}").write_text(f"path{sep}label\naudio/zz.wav{sep}dog\n")
    with pytest.raises(DatasetError, match=rf"bad.{ext}:2: audio file .*zz.wav not found"):
        manifest.read_manifest(tmp_path / f"bad.{ext}")
    (tmp_path / f"hdr.{ext}").write_text(f"file{sep}label\n")
    with pytest.raises(DatasetError, match="header must be"):
        manifest.read_manifest(tmp_path / f"hdr.{ext}")
