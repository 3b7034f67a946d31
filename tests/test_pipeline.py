"""The talking-face pipeline end to end with the bundled generator: frame counts, the MP4, and bad inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from flowvq_core.bench import speech_like_audio
from flowvq_core.cli import main
from flowvq_core.coefficients import CoefficientSequence
from flowvq_core.config import GeneratorConfig
from flowvq_core.face import FACE_MODEL_ID
from flowvq_core.face.landmarks import NoFaceError
from flowvq_core.face.rig import NUM_UNITS, unit_index
from flowvq_core.generator import CoefficientGenerator
from flowvq_core.pipeline import DEFAULT_GENERATOR, PRETRAINED_DIR, TalkingFacePipeline, load_default_generator
from flowvq_core.video import read_video

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def pipeline():
    return TalkingFacePipeline()


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


def _speech(seconds: float) -> tuple[np.ndarray, int]:
    return speech_like_audio(seconds), 16000


def test_bundled_generator_matches_its_model_card():
    generator = load_default_generator()
    card = (PRETRAINED_DIR / "README.md").read_text(encoding="utf-8")
    config = json.loads(re.search(r"```json\n(.*?)\n```", card, re.S).group(1))
    assert GeneratorConfig.from_json(json.dumps(config)) == generator.config
    assert generator.face_model_id == FACE_MODEL_ID
    assert generator.projection is not None, "the bundled generator carries its manifold-projection bank"
    assert DEFAULT_GENERATOR.stat().st_size <= 25 * 2**20
    assert f"{DEFAULT_GENERATOR.name}" in card


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_two_seconds_give_round_duration_times_fps_frames(pipeline, astronaut, fps):
    speech = _speech(2.0)
    result = pipeline(astronaut, speech, emotion="happy", seed=3, fps=fps)
    expected = round(2.0 * fps)
    assert result.frames.shape == (expected, 512, 512, 3) and result.frames.dtype == torch.float32
    assert float(result.frames.min()) >= 0 and float(result.frames.max()) <= 1
    assert result.coefficients.expression.shape[1] == expected and result.fps == fps
    assert abs(result.waveform.numel() / result.sample_rate - 2.0) < 1e-3


def test_full_frame_keeps_the_photo_resolution(pipeline):
    photo = np.ascontiguousarray(np.pad(data.astronaut(), ((40, 40), (100, 100), (0, 0)), mode="edge"))
    result = pipeline(photo, _speech(0.4), full_frame=True)
    assert result.frames.shape == (10, photo.shape[0], photo.shape[1], 3)
    corner = (result.frames[0, :20, :20].numpy() * 255).round()
    assert np.abs(corner - photo[:20, :20]).max() <= 1, "outside the face the photo is kept"


def test_seeds_differ_and_strength_zero_is_neutral(pipeline, astronaut):
    portrait = pipeline.prepare(astronaut)
    speech = pipeline.audio(_speech(3.0))
    first = pipeline.coefficients(portrait, speech, emotion="sad", seed=1)
    second = pipeline.coefficients(portrait, speech, emotion="sad", seed=2)
    assert not torch.allclose(first.pose, second.pose)
    calm = pipeline.coefficients(portrait, speech, emotion="sad", strength=0.0, seed=1)
    neutral = pipeline.coefficients(portrait, speech, emotion="neutral", seed=1)
    assert torch.allclose(calm.expression, neutral.expression, atol=1e-5)
    half = pipeline.coefficients(portrait, speech, emotion="sad", strength=0.5, seed=1).expression
    low, high = torch.minimum(calm.expression, first.expression), torch.maximum(calm.expression, first.expression)
    assert ((half >= low - 1e-5) & (half <= high + 1e-5)).all(), "half strength lies between neutral and sad"
    assert not torch.allclose(half, calm.expression) and not torch.allclose(half, first.expression)


def test_mp4_has_audio_and_the_audio_duration(tmp_path, pipeline, astronaut):
    summary = pipeline.write_video(tmp_path / "out.mp4", astronaut, _speech(1.6), seed=0)
    clip = read_video(summary.path)
    assert len(clip.frames) == summary.frames == 40 and clip.fps == 25
    assert clip.waveform is not None and abs(len(clip.waveform) / clip.sample_rate - 1.6) < 0.05
    assert clip.frames.shape[1:] == (512, 512, 3)


def test_bad_inputs_get_clear_errors(pipeline, astronaut, tmp_path):
    with pytest.raises(NoFaceError):
        pipeline(data.coffee(), _speech(0.4))
    with pytest.raises(ValueError, match="silent"):
        pipeline(astronaut, (np.zeros(16000, np.float32), 16000))
    with pytest.raises(ValueError, match="unknown emotion 'joyful'.*happy"):
        pipeline(astronaut, _speech(0.4), emotion="joyful")
    with pytest.raises(ValueError, match="strength"):
        pipeline(astronaut, _speech(0.4), strength=3.0)
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        pipeline(astronaut, tmp_path / "missing.wav")
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        pipeline(astronaut, _speech(0.4), reference=tmp_path / "nope.mp4")


def test_emotion_reference_from_coefficients(pipeline, astronaut):
    portrait = pipeline.prepare(astronaut)
    speech = pipeline.audio(_speech(1.0))
    reference = pipeline.coefficients(portrait, pipeline.audio(_speech(0.8)), emotion="surprised", seed=5)
    transferred = pipeline.coefficients(portrait, speech, reference=reference, seed=0)
    assert transferred.expression.shape == (1, 25, reference.expression.shape[-1])


def test_the_transferred_expression_follows_the_reference(pipeline, astronaut):
    """A smiling reference makes a smile, a calm one none (on the smiling astronaut too), a frowning one lowered
    brows: the reference, not the portrait or the seed, decides the expression."""
    portrait = pipeline.prepare(astronaut)
    speech = pipeline.audio(_speech(1.0))
    smile = [unit_index("mouthSmileLeft"), unit_index("mouthSmileRight")]
    brows = [unit_index("browDownLeft"), unit_index("browDownRight")]

    def transferred(units: list[int]) -> torch.Tensor:
        expression = torch.zeros(1, 40, NUM_UNITS)
        expression[..., units] = 0.8
        reference = CoefficientSequence(expression, torch.zeros(1, 40, 6), 25.0)
        return pipeline.coefficients(portrait, speech, reference=reference, seed=0).expression[0]

    smiling, calm, frowning = transferred(smile), transferred([]), transferred(brows)
    assert float(smiling[:, smile].mean()) > 0.5 and float(calm[:, smile].mean()) < 0.1
    assert float(frowning[:, brows].mean()) > 0.5 and float(smiling[:, brows].mean()) < 0.1


def test_cli_generate_writes_the_video_and_reports_errors(tmp_path, capsys):
    import soundfile
    from PIL import Image

    image, audio = tmp_path / "portrait.png", tmp_path / "speech.wav"
    Image.fromarray(data.astronaut()).save(image)
    soundfile.write(audio, *_speech(0.8))
    output = tmp_path / "talk.mp4"
    code = main(["generate", "--image", str(image), "--audio", str(audio), "--emotion", "happy", "--seed", "2",
                 "-o", str(output), "-q", "--device", "cpu", "--coefficients", str(tmp_path / "c.json")])  # fmt: skip
    assert code == 0 and output.is_file() and (tmp_path / "c.json").is_file()
    assert "20 frames at 25 fps" in capsys.readouterr().out
    code = main(["generate", "--image", str(image), "--audio", str(audio), "--emotion", "grumpy", "-o",
                 str(tmp_path / "x.mp4"), "-q"])  # fmt: skip
    assert code == 2 and "unknown emotion 'grumpy'" in capsys.readouterr().err
    code = main(["generate", "--image", str(tmp_path / "none.png"), "--audio", str(audio), "-o", str(output), "-q"])
    assert code == 2 and "none.png: no such file" in capsys.readouterr().err


def test_a_tiny_generator_can_replace_the_bundled_one(tmp_path, astronaut):
    config = GeneratorConfig.preset("tiny", expression_dim=40)
    generator = CoefficientGenerator(config, face_model_id=FACE_MODEL_ID)
    result = TalkingFacePipeline(generator)(astronaut, _speech(0.4))
    assert result.frames.shape[0] == 10
    assert Path(DEFAULT_GENERATOR).suffix == ".safetensors"


def test_eval_measures_synthetic_clips_and_a_real_video(tmp_path, pipeline, astronaut):
    from flowvq_core.synthetic.espeak import EspeakUnavailableError, speak

    try:
        spoken = speak("Hello there, how are you today?")
    except EspeakUnavailableError:
        pytest.skip("espeak-ng not installed")
    video = tmp_path / "clip.mp4"
    pipeline.write_video(video, astronaut, (spoken.waveform, spoken.sample_rate), emotion="happy", seed=1)
    output = tmp_path / "eval.json"
    code = main(["eval", "--synthetic", "--clips", "2", "--seeds", "2", "--classifier-clips", "18",
                 "--video", str(video), "--json", str(output), "-q"])  # fmt: skip
    assert code == 0
    rows = {row["name"]: row for row in json.loads(output.read_text())}
    generated_name = next(name for name in rows if name.startswith("clip.mp4: generated"))
    expected = {"synthetic ground truth", "generated", "generated, strength 0 (→ neutral)", "clip.mp4: extracted"}
    assert set(rows) == expected | {generated_name}
    assert rows["generated"]["clips"] == 4 and rows["generated"]["seed_pose_rms_degrees"] > 0
    assert rows["clip.mp4: extracted"]["emotion_accuracy"] is None
    assert -1 <= rows["clip.mp4: extracted"]["mouth_correlation"] <= 1
