"""ExpFlow / PoseFlow behaviour: context, history, training losses, generation and emotion transfer."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from flow_helpers import perturb_, random_batch

from flowvq_core.config import FlowConfig, GeneratorConfig
from flowvq_core.face.rig import NUM_UNITS
from flowvq_core.flows import ExpFlow, PoseFlow, StandardGaussian, StudentTMixture, extend_latent, history_windows


def test_history_windows_hold_the_previous_frames_padded_with_the_source():
    sequence = torch.arange(1, 6, dtype=torch.float64).view(1, 5, 1)
    windows = history_windows(sequence, torch.zeros(1, 1, dtype=torch.float64), length=3)
    assert windows.shape == (1, 5, 3, 1)
    assert windows[0, :, :, 0].tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4]]


def test_extend_latent_plays_the_reference_back_and_forth():
    latent = torch.arange(3).view(1, 3, 1)
    assert extend_latent(latent, 9)[0, :, 0].tolist() == [0, 1, 2, 1, 0, 1, 2, 1, 0]
    assert extend_latent(latent[:, :1], 4)[0, :, 0].tolist() == [0, 0, 0, 0]
    assert extend_latent(latent, 2)[0, :, 0].tolist() == [0, 1]


def test_defaults_follow_the_paper_at_the_face_rigs_size():
    exp, pose = ExpFlow(), PoseFlow()
    assert isinstance(exp.latent, StudentTMixture) and exp.latent.dof == 50 and exp.latent.num_classes == 9
    assert isinstance(pose.latent, StandardGaussian)
    assert exp.config.dim == NUM_UNITS == 40 and pose.config.dim == 6, (
        "β has the rig's 40 units (BFM's 64 in the paper)"
    )
    assert exp.config.history == 10 and exp.config.history_dropout == 0.5 and exp.config.audio_radius == 4
    assert exp.steps.transforms[0].transforms[0].bias.shape == (9, 40), "multi-actnorm has a row per emotion"
    assert pose.steps.transforms[0].transforms[0].bias.shape == (1, 6), "PoseFlow uses a plain actnorm"
    assert pose.context_encoder.source_token is None and pose.context_encoder.emotion_token is None


def test_history_dropout_is_active_only_in_training(exp_flow):
    batch = random_batch(exp_flow, batch=4, frames=6)
    context = exp_flow.sequence_context(batch)
    assert torch.equal(exp_flow.context_encoder(context), exp_flow.context_encoder(context))
    exp_flow.train()
    torch.manual_seed(0)
    first = exp_flow.context_encoder(context)
    second = exp_flow.context_encoder(context)
    assert not torch.allclose(first, second), "history frames are dropped at random in training"
    no_dropout = dataclasses.replace(exp_flow.config, history_dropout=0.0)
    exp_flow.context_encoder.config = no_dropout
    assert torch.equal(exp_flow.context_encoder(context), exp_flow.context_encoder(context))


def test_context_depends_on_every_part(exp_flow):
    batch = random_batch(exp_flow, batch=1, frames=4)
    x = batch.coefficients.flatten(0, 1)
    z = exp_flow.encode(x, exp_flow.sequence_context(batch))[0]
    changes = {
        "source": dataclasses.replace(batch, source=batch.source + 1),
        "audio": dataclasses.replace(batch, windows=-batch.windows),
        "emotion": dataclasses.replace(batch, labels=(batch.labels + 1) % 9),
    }
    for part, changed in changes.items():
        assert not torch.allclose(z, exp_flow.encode(x, exp_flow.sequence_context(changed))[0]), part
    history_changed = batch.coefficients.clone()
    history_changed[:, 0] += 1
    z_changed = exp_flow.encode(
        history_changed.flatten(0, 1),
        exp_flow.sequence_context(dataclasses.replace(batch, coefficients=history_changed)),
    )[0]
    assert not torch.allclose(z[1:], z_changed[1:]), "later frames see frame 0 in their history"


def test_pose_flow_ignores_emotion_and_source(pose_flow):
    batch = random_batch(pose_flow, batch=1, frames=4)
    x = batch.coefficients.flatten(0, 1)
    z = pose_flow.encode(x, pose_flow.sequence_context(batch))[0]
    other = dataclasses.replace(batch, labels=(batch.labels + 3) % 9)
    assert torch.equal(z, pose_flow.encode(x, pose_flow.sequence_context(other))[0])


def test_loss_has_finite_nll_and_consistency_with_gradients_everywhere():
    torch.manual_seed(0)
    flow = ExpFlow(FlowConfig.expression("tiny", 6)).train()
    perturb_(flow, scale=0.05)
    batch = random_batch(flow, batch=3, frames=5, dtype=torch.float32)
    loss = flow.loss(batch, consistency_weight=0.5)
    assert torch.isfinite(loss.total) and loss.consistency > 0
    assert torch.allclose(loss.total, loss.nll + 0.5 * loss.consistency)
    loss.total.backward()
    silent = [name for name, p in flow.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
    assert silent in ([], ["latent.means"]), f"parameters without gradient: {silent}"


def test_nll_matches_log_prob(exp_flow):
    batch = random_batch(exp_flow, batch=2, frames=3)
    loss = exp_flow.loss(batch, consistency_weight=0.0)
    log_p = exp_flow.log_prob(batch.coefficients.flatten(0, 1), exp_flow.sequence_context(batch))
    assert torch.allclose(loss.nll, -log_p.mean() / exp_flow.config.dim)


def test_generation_shapes_seeds_and_temperature(exp_flow):
    batch = random_batch(exp_flow, batch=1, frames=7)
    windows, source = batch.windows[0], batch.source[0]

    def run(seed, **kwargs):
        return exp_flow.generate(windows, source, 4, generator=torch.Generator().manual_seed(seed), **kwargs)

    out = run(0, num_samples=3)
    assert out.shape == (3, 7, 6) and out.dtype == torch.float64
    assert torch.equal(out, run(0, num_samples=3))
    assert not torch.allclose(out[0], out[1]), "samples of one batch differ"
    assert not torch.allclose(out, run(1, num_samples=3))
    cold = run(0, temperature=0.0)
    assert torch.allclose(cold, run(5, temperature=0.0)), "temperature 0 decodes the emotion's mean"
    assert not torch.allclose(cold, exp_flow.generate(windows, source, 2, temperature=0.0))


def test_generation_decodes_a_given_latent_autoregressively(exp_flow):
    """Encoding a clip under its own context and decoding that latent with its audio gives the clip back:
    the autoregressive history at inference lines up exactly with the teacher-forced one of training."""
    batch = random_batch(exp_flow, batch=1, frames=12)
    reference = batch.coefficients[0]
    z, labels = exp_flow.encode_reference(reference, batch.windows[0], labels=int(batch.labels[0]))
    assert z.shape == (1, 12, 6) and labels.tolist() == batch.labels.tolist()
    regenerated = exp_flow.generate(batch.windows[0], reference[0], labels, latent=z)
    assert (regenerated[0] - reference).abs().max() < 1e-8


def test_emotion_transfer_uses_silence_and_infers_the_emotion(exp_flow):
    batch = random_batch(exp_flow, batch=1, frames=6)
    reference = batch.coefficients[0]
    z, labels = exp_flow.encode_reference(reference)
    scores = [
        exp_flow.sequence_log_likelihood(
            dataclasses.replace(
                batch,
                windows=exp_flow.context_encoder.silence(6).unsqueeze(0),
                labels=torch.tensor([label]),
                source=reference[:1],
            )
        ).item()
        for label in range(9)
    ]
    assert labels.item() == max(range(9), key=scores.__getitem__)
    longer = exp_flow.generate(
        random_batch(exp_flow, 1, 15, seed=3).windows[0], reference[0], labels, latent=extend_latent(z, 15)
    )
    assert longer.shape == (1, 15, 6) and torch.isfinite(longer).all()


def test_generation_rejects_a_latent_of_the_wrong_length(exp_flow):
    batch = random_batch(exp_flow, batch=1, frames=5)
    with pytest.raises(ValueError, match="latent has 3 frames but the audio has 5"):
        exp_flow.generate(batch.windows[0], batch.source[0], 0, latent=torch.zeros(1, 3, 6))


def test_expression_generation_needs_an_emotion(exp_flow):
    batch = random_batch(exp_flow, batch=1, frames=3)
    with pytest.raises(ValueError, match="pass an emotion label"):
        exp_flow.generate(batch.windows[0], batch.source[0])


def test_pose_generation_runs_without_labels(pose_flow):
    batch = random_batch(pose_flow, batch=1, frames=5)
    assert pose_flow.generate(batch.windows[0], batch.source[0], num_samples=2).shape == (2, 5, 6)


def test_default_configs_build_the_model_that_runs():
    """GeneratorConfig() and every preset take the expression size from the face rig, so they describe a model
    that the bundled face model can drive (the bundled generator itself is the small preset at that size)."""
    from flowvq_core.pipeline import load_default_generator

    assert GeneratorConfig().expression.dim == NUM_UNITS
    for preset in ("paper", "small", "tiny"):
        assert GeneratorConfig.preset(preset).expression.dim == NUM_UNITS
    assert GeneratorConfig.preset("small") == load_default_generator().config
