"""The VQIG behind the renderer interface: frames at the crop's size, checkpoints, and the pipeline using it."""

from __future__ import annotations

import pytest
import torch

from flowvq_core.checkpoint import CheckpointError
from flowvq_core.face.rig import NUM_UNITS
from flowvq_core.vqig import VQIG, VQIGConfig
from flowvq_core.vqig.renderer import VQIGRenderer


@pytest.fixture
def renderer():
    torch.manual_seed(0)
    return VQIGRenderer(VQIG(VQIGConfig.preset("tiny")), chunk=2)


def _motion(frames: int = 5):
    torch.manual_seed(1)
    return torch.rand(frames, NUM_UNITS), 0.05 * torch.randn(frames, 6)


def test_frames_come_back_at_the_crop_size_in_range(renderer):
    source = renderer.prepare(torch.rand(96, 96, 3), torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
    assert source.image.shape == (1, 3, 64, 64) and source.codes.shape == (1, 32, 16, 16)
    expression, pose = _motion()
    frames, masks = renderer.render(source, expression, pose)
    assert frames.shape == (5, 96, 96, 3) and masks.shape == (5, 96, 96) and bool((masks == 1).all())
    assert float(frames.min()) >= 0 and float(frames.max()) <= 1
    with pytest.raises(ValueError, match="another face rig"):
        renderer.render_frames(source, torch.zeros(5, 10), pose)


def test_checkpoint_round_trip_renders_the_same_frames(renderer, tmp_path):
    source = renderer.prepare(torch.rand(64, 64, 3), torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
    expression, pose = _motion(3)
    renderer.save(tmp_path / "vqig.safetensors")
    loaded = VQIGRenderer.load(tmp_path / "vqig.safetensors")
    again = loaded.prepare(torch.zeros(64, 64, 3), torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
    again.image, again.codes = source.image, source.codes
    expected = renderer.render_frames(source, expression, pose)
    assert torch.allclose(loaded.render_frames(again, expression, pose), expected, atol=1e-5)
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        VQIGRenderer.load(tmp_path / "bad.safetensors")


def test_the_pipeline_renders_through_a_vqig(renderer):
    pytest.importorskip("mediapipe")
    from skimage import data

    from flowvq_core.bench import speech_like_audio
    from flowvq_core.pipeline import TalkingFacePipeline

    pipeline = TalkingFacePipeline(renderer=renderer, crop_size=128)
    result = pipeline(data.astronaut(), (speech_like_audio(0.4), 16000), emotion="happy", seed=1)
    assert result.frames.shape == (10, 128, 128, 3)


def test_generate_renders_through_a_vqig_checkpoint(renderer, tmp_path):
    pytest.importorskip("mediapipe")
    import av
    import soundfile

    from flowvq_core.bench import speech_like_audio
    from flowvq_core.cli import main

    renderer.save(tmp_path / "vqig.safetensors")
    soundfile.write(tmp_path / "speech.wav", speech_like_audio(0.4), 16000)
    portrait = "workflows/inputs/flowvq_portrait.jpg"
    files = {"--audio": tmp_path / "speech.wav", "--renderer": tmp_path / "vqig.safetensors", "-o": tmp_path / "o.mp4"}
    command = ["generate", "--image", portrait, "--size", "128", "-q", "--device", "cpu"]
    for option, path in files.items():
        command += [option, str(path)]
    assert main(command) == 0
    with av.open(str(tmp_path / "o.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 10


def test_bfloat16_autocast_renders_float32_frames_close_to_float32(renderer):
    source = renderer.prepare(torch.rand(64, 64, 3), torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
    expression, pose = _motion(2)
    full = renderer.render_frames(source, expression, pose)
    half = VQIGRenderer(renderer.model, precision="bfloat16").render_frames(source, expression, pose)
    assert half.dtype == torch.float32 and half.shape == full.shape
    assert float((half - full).abs().mean()) < 0.05
    with pytest.raises(ValueError, match="precision"):
        VQIGRenderer(renderer.model, precision="float16")


@pytest.mark.slow
def test_a_compiled_renderer_draws_the_frames_of_the_eager_one(renderer):
    """torch.compile (with the fused transformer fast path off) changes speed, not frames."""
    source = renderer.prepare(torch.rand(64, 64, 3), torch.zeros(468, 3), torch.zeros(NUM_UNITS), torch.zeros(6))
    expression, pose = _motion(4)
    eager = renderer.render_frames(source, expression, pose)
    compiled = VQIGRenderer(renderer.model, chunk=renderer.chunk, compile=True).render_frames(source, expression, pose)
    assert torch.allclose(compiled, eager, atol=1e-4)
    assert torch.backends.mha.get_fastpath_enabled()
