"""The coefficient generator: end-to-end generation from audio, checkpoint round trips and bad checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from flowvq_core.audio import audio_features
from flowvq_core.bench import speech_like_audio
from flowvq_core.checkpoint import CheckpointError, read_checkpoint
from flowvq_core.config import GeneratorConfig
from flowvq_core.flows import ManifoldProjection
from flowvq_core.generator import GENERATOR_KIND, CoefficientGenerator, SamplingDefaults

FACE = "test-rig"


def _generator(with_projection: bool = True) -> CoefficientGenerator:
    torch.manual_seed(0)
    config = GeneratorConfig.preset("tiny", expression_dim=6)
    projection = None
    if with_projection:
        bank = torch.randn(9 * 20, 6)
        projection = ManifoldProjection(bank, torch.arange(9).repeat_interleave(20), neighbours=4)
    generator = CoefficientGenerator(config, face_model_id=FACE, projection=projection)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return generator.eval()


@pytest.fixture(scope="module")
def audio():
    return audio_features((speech_like_audio(1.0), 16000), fps=25, name="test speech")


def _run(generator, audio, **kwargs):
    return generator.generate(audio, torch.zeros(6), torch.zeros(6), "happy", seed=3, **kwargs)


def test_generate_gives_one_frame_per_video_frame(audio):
    out = _run(_generator(), audio, num_samples=2)
    assert out.expression.shape == (2, 25, 6) and out.pose.shape == (2, 25, 6) and out.fps == 25
    assert torch.isfinite(out.expression).all() and torch.isfinite(out.pose).all()


def test_warmup_over_silence_keeps_the_frame_count_and_changes_the_start(audio, tmp_path):
    generator = _generator()
    plain = _run(generator, audio)
    generator.sampling = SamplingDefaults(warmup_frames=10)
    warmed = _run(generator, audio, progress=None)
    assert warmed.expression.shape == plain.expression.shape and warmed.pose.shape == plain.pose.shape
    assert not torch.allclose(warmed.pose[:, 0], plain.pose[:, 0]), "the history no longer starts at the source"
    generator.save(tmp_path / "warm.safetensors")
    assert CoefficientGenerator.load(tmp_path / "warm.safetensors").sampling.warmup_frames == 10


@pytest.mark.parametrize("strength", [1.0, 0.4])
def test_the_blocks_one_by_one_give_what_generate_gives(audio, strength):
    """sample_latent → generate_expression → generate_pose is generate (what the ComfyUI blocks rely on)."""
    generator = _generator()
    generator.sampling = SamplingDefaults(temperature=1.1, warmup_frames=5)
    whole = _run(generator, audio, strength=strength, num_samples=2)
    latent = generator.sample_latent(audio.num_frames, "happy", seed=3, num_samples=2)
    assert latent.latent.shape == (2, 5 + 25, 6) and latent.frames == 25 and latent.warmup_frames == 5
    expression = generator.generate_expression(audio, torch.zeros(6), latent, strength=strength)
    pose = generator.generate_pose(audio, torch.zeros(6), seed=3, num_samples=2)
    assert torch.equal(expression, whole.expression) and torch.equal(pose, whole.pose)


def test_a_latent_of_another_length_is_looped_or_cut(audio):
    generator = _generator()
    short = generator.sample_latent(10, "sad", seed=1)
    long = generator.sample_latent(40, "sad", seed=1)
    for latent in (short, long):
        assert generator.generate_expression(audio, torch.zeros(6), latent).shape == (1, 25, 6)


def test_a_reference_latent_keeps_the_reference_emotion_and_loops(audio):
    generator = _generator()
    generator.sampling = SamplingDefaults(warmup_frames=4)
    reference = torch.rand(1, 12, 6)
    latent = generator.reference_latent(reference, frames=30, seed=2, labels=3)
    assert latent.label == 3 and latent.latent.shape == (1, 4 + 30, 6) and latent.frames == 30
    again = generator.reference_latent(reference, frames=30, seed=2, labels=3)
    assert torch.equal(latent.latent, again.latent)
    out = generator.generate(audio, torch.zeros(6), torch.zeros(6), "neutral", expression_latent=latent)
    assert out.expression.shape == (1, 25, 6)


def test_seed_changes_expression_and_pose(audio):
    generator = _generator()
    first, again = _run(generator, audio), _run(generator, audio)
    other = generator.generate(audio, torch.zeros(6), torch.zeros(6), "happy", seed=4)
    assert torch.equal(first.expression, again.expression) and torch.equal(first.pose, again.pose)
    assert not torch.allclose(first.expression, other.expression) and not torch.allclose(first.pose, other.pose)


def test_projection_can_be_switched_off(audio):
    generator = _generator()
    assert not torch.allclose(
        _run(generator, audio).expression, _run(generator, audio, use_projection=False).expression
    )


def test_progress_reports_every_frame_of_both_flows(audio):
    calls = []
    _run(_generator(), audio, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1, 50) and calls[-1] == (50, 50) and len(calls) == 50


def test_unknown_emotion_is_a_clear_error(audio):
    with pytest.raises(ValueError, match="unknown emotion 'joyful'"):
        _generator().generate(audio, torch.zeros(6), torch.zeros(6), "joyful")


@pytest.mark.parametrize("with_projection", [True, False])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, audio, with_projection):
    generator = _generator(with_projection)
    path = tmp_path / "generator.safetensors"
    generator.save(path)
    loaded = CoefficientGenerator.load(path, face_model_id=FACE)
    assert loaded.config == generator.config and loaded.face_model_id == FACE
    assert (loaded.projection is None) == (not with_projection)
    first, second = _run(generator, audio), _run(loaded, audio)
    assert torch.equal(first.expression, second.expression) and torch.equal(first.pose, second.pose)
    metadata = read_checkpoint(path).metadata
    assert metadata["flowvq.kind"] == GENERATOR_KIND and metadata["flowvq.face_model_id"] == FACE


def test_loading_for_another_face_model_is_refused(tmp_path):
    path = tmp_path / "generator.safetensors"
    _generator().save(path)
    with pytest.raises(CheckpointError, match="trained for face model 'test-rig' but 'bfm-64' is in use"):
        CoefficientGenerator.load(path, face_model_id="bfm-64")


def _rewrite(path, tensors, metadata):
    save_file({name: t.contiguous() for name, t in tensors.items()}, str(path), metadata=metadata)


def test_missing_and_extra_tensors_are_named(tmp_path):
    path = tmp_path / "generator.safetensors"
    _generator().save(path)
    checkpoint = read_checkpoint(path)
    tensors = dict(checkpoint.tensors)
    del tensors["expression.latent.means"]
    tensors["pose.extra_weight"] = torch.zeros(2)
    broken = tmp_path / "broken.safetensors"
    _rewrite(broken, tensors, checkpoint.metadata)
    with pytest.raises(CheckpointError, match="broken.safetensors") as error:
        CoefficientGenerator.load(broken)
    assert "expression.latent.means" in str(error.value) and "pose.extra_weight" in str(error.value)


def test_truncated_and_corrupt_files_are_named(tmp_path):
    path = tmp_path / "generator.safetensors"
    _generator().save(path)
    data = path.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        truncated = tmp_path / f"cut{cut}.safetensors"
        truncated.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"cut{cut}.safetensors"):
            CoefficientGenerator.load(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        CoefficientGenerator.load(garbage)


def test_an_unreadable_config_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "generator.safetensors"
    _generator().save(path)
    checkpoint = read_checkpoint(path)
    bad = tmp_path / "bad-config.safetensors"
    _rewrite(bad, checkpoint.tensors, {**checkpoint.metadata, "flowvq.config": '{"expression": {}}'})
    with pytest.raises(CheckpointError, match="bad-config.safetensors: its config cannot be read"):
        CoefficientGenerator.load(bad)


def test_configs_round_trip_through_json():
    for preset in ("paper", "tiny"):
        config = GeneratorConfig.preset(preset, expression_dim=52)
        assert GeneratorConfig.from_json(config.to_json()) == config
