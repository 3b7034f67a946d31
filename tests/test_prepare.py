"""``prepare``: talking videos and face photos → training shards with a manifest, resumable, never stopped by a bad
file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("mediapipe")

from video_helpers import astronaut_talking_frames  # noqa: E402

from flowvq_core.bench import speech_like_audio  # noqa: E402
from flowvq_core.cli import main  # noqa: E402
from flowvq_core.datasets.prepare import discover, load_prepared_corpus, prepare  # noqa: E402
from flowvq_core.face.crop import CropBox, crop_images  # noqa: E402
from flowvq_core.video import read_frames, read_video, write_mp4  # noqa: E402


def _speech(seconds: float) -> np.ndarray:
    try:
        from flowvq_core.synthetic.espeak import speak

        spoken = speak("Hello there, this is a test.")
        return np.asarray(spoken.waveform, dtype=np.float32)[: int(seconds * 16000)]
    except (RuntimeError, OSError):  # espeak-ng missing: speech-like noise serves the pipeline as well
        return speech_like_audio(seconds)


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory):
    """A 1.2 s talking clip of the astronaut made by our renderer, with speech, as an MP4."""
    frames = astronaut_talking_frames(30)
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_mp4(path, [frames], 25.0, _speech(1.2), 16000)
    blank = tmp_path_factory.mktemp("blank") / "blank.mp4"
    write_mp4(blank, [torch.full((30, 128, 128, 3), 0.5)], 25.0, _speech(1.2), 16000)
    return path, blank


def test_a_folder_of_own_videos_is_prepared_and_a_second_run_skips_everything(tmp_path, talking_video):
    clip, blank = talking_video
    root = tmp_path / "videos"
    (root / "alice" / "happy").mkdir(parents=True)
    (root / "bob").mkdir()
    shutil.copy(clip, root / "alice" / "happy" / "one.mp4")
    shutil.copy(clip, root / "bob" / "two.mp4")
    shutil.copy(blank, root / "bob" / "nobody.mp4")
    out = tmp_path / "prepared"
    summary = prepare(root, out, "videos", crop_size=128)
    assert (summary.done, summary.skipped, summary.already) == (2, 1, 0) and summary.reasons == {"no face": 1}
    entries = {e["id"]: e for e in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    stored = read_video(out / "frames" / "alice_happy_one.mp4").frames
    source = torch.from_numpy(read_video(clip).frames).float() / 255
    expected = crop_images(source, CropBox.from_dict(entries["alice/happy/one"]["crop"]))
    assert stored.shape == (30, 128, 128, 3), "one face frame per coefficient frame, in the stable crop"
    assert float((torch.from_numpy(stored).float() / 255 - expected).abs().mean()) < 0.02
    assert entries["alice/happy/one"]["emotion"] == "happy" and entries["bob/two"]["emotion"] == "talking"
    assert entries["alice/happy/one"]["actor"] == "alice" and entries["alice/happy/one"]["frames"] == 30
    assert entries["bob/nobody"]["status"] == "skipped"
    again = prepare(root, out, "videos")
    assert (again.done, again.skipped, again.already) == (0, 0, 3)
    splits = {e["split"] for e in entries.values()}
    corpus = load_prepared_corpus(out, sorted(splits)[-1])
    assert len(corpus) >= 1 and corpus.clips[0].expression.shape[1] == 40


def test_a_mead_tree_follows_the_paper_split_and_counts_a_corrupt_file(tmp_path, talking_video, capsys):
    clip, _ = talking_video
    root = tmp_path / "MEAD"
    for actor, emotion, level, name in (("M003", "happy", 1, "001"), ("W011", "sad", 3, "002")):
        folder = root / actor / "video" / "front" / emotion / f"level_{level}"
        folder.mkdir(parents=True)
        shutil.copy(clip, folder / f"{name}.mp4")
    (root / "W011" / "video" / "front" / "sad" / "level_3" / "003.mp4").write_bytes(b"\x00not a video" * 50)
    side = root / "M003" / "video" / "left_30" / "happy" / "level_1"
    side.mkdir(parents=True)
    shutil.copy(clip, side / "001.mp4")  # another camera view: not used
    sources = {s.id: s for s in discover(root, "mead")}
    assert set(sources) == {"M003_happy_1_001", "W011_sad_3_002", "W011_sad_3_003"}
    assert sources["M003_happy_1_001"].split == "test" and sources["W011_sad_3_002"].split == "train"
    assert sources["W011_sad_3_002"].level == 3 and sources["W011_sad_3_002"].emotion == "sad"
    out = tmp_path / "mead_prepared"
    assert main(["prepare", str(root), str(out), "--layout", "mead", "-q"]) == 0
    assert "2 prepared, 1 skipped (1 unreadable), 0 already there" in capsys.readouterr().out
    assert main(["prepare", str(root), str(out), "--layout", "mead", "-q"]) == 0
    assert "0 prepared, 0 skipped, 3 already there" in capsys.readouterr().out
    assert len(load_prepared_corpus(out, "test")) == 1 and len(load_prepared_corpus(out, "train")) == 1


def test_hdtf_videos_are_cut_into_five_second_clips_and_photos_into_crops(tmp_path, talking_video):
    clip, _ = talking_video
    (tmp_path / "hdtf").mkdir()
    shutil.copy(clip, tmp_path / "hdtf" / "RD_Radio1.mp4")
    (sources,) = [discover(tmp_path / "hdtf", "hdtf")]
    assert [s.id for s in sources] == ["RD_Radio1_0000"] and sources[0].duration == 5.0
    from skimage import data
    from skimage.io import imsave

    (tmp_path / "ffhq").mkdir()
    imsave(tmp_path / "ffhq" / "00001.png", data.astronaut())
    summary = prepare(tmp_path / "ffhq", tmp_path / "crops_out", "ffhq", crop_size=128)
    assert summary.done == 1 and (tmp_path / "crops_out" / "crops" / "00001.png").is_file()
    with pytest.raises(ValueError, match="unknown layout"):
        discover(tmp_path, "voxceleb")


@pytest.mark.parametrize("keyframe_interval", [None, 12])
def test_read_frames_returns_the_frames_a_full_decode_gives_in_the_order_asked(tmp_path, keyframe_interval):
    """Face frames are read by seeking to the keyframe before each (what training draws); any GOP gives the same."""
    frames = np.repeat(np.arange(40, dtype=np.uint8)[:, None, None, None] * 6, 32, 1).repeat(32, 2).repeat(3, 3)
    path = tmp_path / "ramp.mp4"
    write_mp4(path, [frames], 25.0, crf=12, keyframe_interval=keyframe_interval)
    full = read_video(path).frames
    asked = [39, 3, 17, 17, 0, 26]
    assert np.array_equal(read_frames(path, asked), full[asked])
    with pytest.raises(ValueError, match="beyond its end"):
        read_frames(path, [40])


def test_worker_processes_prepare_the_same_entries_and_the_parent_writes_the_manifest(tmp_path, talking_video):
    clip, blank = talking_video
    root = tmp_path / "videos"
    root.mkdir()
    for name in ("a", "b"):
        shutil.copy(clip, root / f"{name}.mp4")
    shutil.copy(blank, root / "nobody.mp4")
    seen = []
    summary = prepare(root, tmp_path / "two", "videos", crop_size=64, jobs=2, progress=lambda *done: seen.append(done))
    assert (summary.done, summary.skipped, summary.reasons) == (2, 1, {"no face": 1})
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    one = prepare(root, tmp_path / "one", "videos", crop_size=64)
    assert (one.done, one.skipped) == (2, 1)
    entries = {}
    for run in ("one", "two"):
        lines = map(json.loads, (tmp_path / run / "manifest.jsonl").read_text().splitlines())
        entries[run] = {e["id"]: (e["status"], e.get("frames"), e["split"]) for e in lines}
    assert entries["one"] == entries["two"]
    assert sorted(p.name for p in (tmp_path / "two" / "frames").iterdir()) == ["a.mp4", "b.mp4"]
