"""ExpFlow and PoseFlow (paper §3.2): conditional normalizing flows over per-frame face coefficients.

Per frame t the flow maps x_t (β_t or ρ_t) to a latent z_t of the same size given the context c_t (see
``context.py``): z = f⁻¹(x, c) is ``encode`` and x = f(z, c) is ``decode``. Training maximises the exact
likelihood with the log-dets (Eq. 9) and adds the consistency loss of Eq. 11; generation is autoregressive, each
generated frame joining the history of the next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import AudioConfig, FlowConfig
from .base import CompositeTransform, FlowCondition
from .context import ContextEncoder, FrameContext, SequenceBatch, history_windows
from .latent import StandardGaussian, StudentTMixture
from .projection import ManifoldProjection
from .step import FlowStep

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each generated frame."""


@dataclass
class FlowLoss:
    total: Tensor
    nll: Tensor
    """Negative log-likelihood per dimension per frame (Eq. 9 with the log-dets)."""
    consistency: Tensor
    """‖Δx − Δx̂‖₁ of Eq. 11, per element."""


def extend_latent(latent: Tensor, frames: int) -> Tensor:
    """[B, T_ref, D] → [B, frames, D] by playing the reference back and forth (emotion transfer, paper §3.2)."""
    length = latent.shape[1]
    if length == 1:
        return latent.expand(-1, frames, -1)
    period = 2 * (length - 1)
    position = torch.arange(frames, device=latent.device) % period
    index = torch.where(position < length, position, period - position)
    return latent[:, index]


class CoefficientFlow(nn.Module):
    """The shared machinery of ExpFlow and PoseFlow; the config says which context parts and latent it uses."""

    def __init__(self, config: FlowConfig, audio: AudioConfig | None = None):
        super().__init__()
        self.config = config
        self.context_encoder = ContextEncoder(config, audio)
        self.steps = CompositeTransform(
            FlowStep(
                config.dim,
                config.hidden,
                num_classes=config.actnorm_classes,
                heads=config.heads,
                coupling_layers=config.coupling_layers,
                mlp_ratio=config.mlp_ratio,
            )
            for _ in range(config.num_steps)
        )
        if config.latent == "smm":
            self.latent = StudentTMixture(config.dim, config.num_classes, config.dof, config.learn_means)
        elif config.latent == "gaussian":
            self.latent = StandardGaussian(config.dim)
        else:
            raise ValueError(f"unknown latent {config.latent!r}; choose 'smm' or 'gaussian'")

    # ---- frames ---------------------------------------------------------------------------------------------------

    def condition(self, context: FrameContext) -> FlowCondition:
        labels = context.labels if self.config.use_emotion else torch.zeros_like(context.labels)
        return FlowCondition(self.context_encoder(context), labels)

    def encode(self, x: Tensor, context: FrameContext) -> tuple[Tensor, Tensor]:
        """z = f⁻¹(x, c) and log|det ∂z/∂x| for N frames [N, D]."""
        return self.steps(x, self.condition(context))

    def decode(self, z: Tensor, context: FrameContext) -> Tensor:
        """x = f(z, c) for N frames [N, D]."""
        return self.steps.inverse(z, self.condition(context))[0]

    def log_prob(self, x: Tensor, context: FrameContext) -> Tensor:
        """[N] log p(x | c, e) = log p_Z(f⁻¹(x, c) | e) + log|det| (paper Eq. 9)."""
        z, logdet = self.encode(x, context)
        return self.latent.log_prob(z, context.labels if self.config.use_emotion else None) + logdet

    # ---- sequences ------------------------------------------------------------------------------------------------

    def sequence_context(self, batch: SequenceBatch) -> FrameContext:
        """The teacher-forced context of every frame of a batch, flattened to N = B·T frames."""
        coefficients = batch.coefficients
        frames = coefficients.shape[1]
        history = history_windows(coefficients, batch.source, self.config.history)
        return FrameContext(
            audio=self.context_encoder.embed_audio(batch.windows).flatten(0, 1),
            history=history.flatten(0, 1),
            labels=batch.labels.repeat_interleave(frames),
            source=batch.source.repeat_interleave(frames, dim=0) if self.config.use_source else None,
        )

    def encode_sequence(self, batch: SequenceBatch) -> Tensor:
        """[B, T, D] latents of ground-truth sequences under their own (teacher-forced) context."""
        z, _ = self.encode(batch.coefficients.flatten(0, 1), self.sequence_context(batch))
        return z.view_as(batch.coefficients)

    def loss(self, batch: SequenceBatch, consistency_weight: float | None = None) -> FlowLoss:
        """NLL of every frame (Eq. 9) + weight · consistency of frames decoded from fresh samples (Eq. 11)."""
        weight = self.config.consistency_weight if consistency_weight is None else consistency_weight
        x = batch.coefficients
        condition = self.condition(self.sequence_context(batch))
        z, logdet = self.steps(x.flatten(0, 1), condition)
        log_pz = self.latent.log_prob(z, condition.labels if self.config.use_emotion else None)
        nll = -(log_pz + logdet).mean() / self.config.dim
        if weight > 0 and x.shape[1] > 1:
            fresh = self.latent.sample(condition.labels).to(z)
            generated = self.steps.inverse(fresh, condition)[0].view_as(x)
            consistency = F.l1_loss(generated.diff(dim=1), x.diff(dim=1))
        else:
            consistency = nll.new_zeros(())
        return FlowLoss(nll + weight * consistency, nll, consistency)

    @torch.no_grad()
    def sequence_log_likelihood(self, batch: SequenceBatch) -> Tensor:
        """[B] Σ_t log p(x_t | c_t, e) of each clip under its labels."""
        log_p = self.log_prob(batch.coefficients.flatten(0, 1), self.sequence_context(batch))
        return log_p.view(batch.coefficients.shape[:2]).sum(1)

    @torch.no_grad()
    def classify_sequence(self, batch: SequenceBatch) -> Tensor:
        """[B] the emotion under which each clip is most likely (equal priors; labels in ``batch`` are ignored)."""
        if not self.config.use_emotion:
            return torch.zeros_like(batch.labels)
        scores = [
            self.sequence_log_likelihood(dataclasses.replace(batch, labels=torch.full_like(batch.labels, label)))
            for label in range(self.config.num_classes)
        ]
        return torch.stack(scores, dim=1).argmax(1)

    # ---- inference ------------------------------------------------------------------------------------------------

    def _labels(self, labels: int | Tensor | None, batch: int) -> Tensor:
        device = self.context_encoder.positions.device
        if labels is None:
            if self.config.use_emotion:
                raise ValueError("this flow is conditioned on emotion: pass an emotion label (flowvq_core.emotions)")
            return torch.zeros(batch, dtype=torch.long, device=device)
        labels = torch.as_tensor(labels, dtype=torch.long, device=device).reshape(-1)
        return labels.expand(batch) if labels.numel() == 1 else labels

    def sample_latent(
        self,
        frames: int,
        labels: int | Tensor | None = None,
        *,
        num_samples: int = 1,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        projection: ManifoldProjection | None = None,
    ) -> Tensor:
        """[B, T, D] latents drawn from the class's distribution, optionally projected onto the training manifold."""
        labels = self._labels(labels, num_samples)
        frame_labels = labels.repeat_interleave(frames)
        z = self.latent.sample(frame_labels, temperature, generator)
        if projection is not None:
            z = projection.project(z, frame_labels)
        return z.view(labels.shape[0], frames, self.config.dim)

    @torch.no_grad()
    def encode_reference(
        self, reference: Tensor, windows: Tensor | None = None, labels: int | Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Latents of a reference clip for emotion transfer: z = f⁻¹(x_ref, c_ref) (paper §3.2, dotted arrows).

        Each frame is encoded under the reference's own context: its first frame as x_0, its own history, its own
        audio windows or silence. Without labels the clip's most likely emotion is used. Returns (z [B, T, D],
        labels [B]).
        """
        reference = reference.unsqueeze(0) if reference.dim() == 2 else reference
        batch, frames = reference.shape[:2]
        if windows is None:
            windows = self.context_encoder.silence(frames)
        windows = windows.unsqueeze(0) if windows.dim() == 3 else windows
        sequences = SequenceBatch(
            coefficients=reference,
            windows=windows.expand(batch, -1, -1, -1).to(reference.dtype),
            labels=self._labels(0 if labels is None else labels, batch),
            source=reference[:, 0],
        )
        if labels is None:
            sequences = dataclasses.replace(sequences, labels=self.classify_sequence(sequences))
        return self.encode_sequence(sequences), sequences.labels

    @torch.no_grad()
    def generate(
        self,
        windows: Tensor,
        source: Tensor,
        labels: int | Tensor | None = None,
        *,
        latent: Tensor | None = None,
        num_samples: int = 1,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        projection: ManifoldProjection | None = None,
        progress: ProgressCallback | None = None,
    ) -> Tensor:
        """Autoregressive generation: x̂_t = f(z_t, c_t) with c_t built from the frames generated so far.

        ``windows`` [T, n_mels, W] (or [B, T, ...]) are the log-mel windows of the driving audio; ``source`` [D] or
        [B, D] is x_0 (its τ copies start the history). ``latent`` [B, T, D] replaces sampling (emotion transfer);
        otherwise B = ``num_samples`` sequences are sampled at ``temperature``. Returns [B, T, D].
        """
        windows = windows.unsqueeze(0) if windows.dim() == 3 else windows
        frames = windows.shape[1]
        if latent is None:
            latent = self.sample_latent(
                frames,
                labels,
                num_samples=num_samples,
                temperature=temperature,
                generator=generator,
                projection=projection,
            )
        if latent.shape[1] != frames:
            raise ValueError(f"latent has {latent.shape[1]} frames but the audio has {frames}; see extend_latent")
        batch = latent.shape[0]
        labels = self._labels(labels, batch)
        like = self.context_encoder.positions
        latent = latent.to(like)
        source = source.to(like).reshape(-1, self.config.dim).expand(batch, -1)
        audio = self.context_encoder.embed_audio(windows.to(like)).expand(batch, -1, -1, -1)
        history = source.unsqueeze(1).repeat(1, self.config.history, 1)
        frame_source = source if self.config.use_source else None
        generated = []
        for t in range(frames):
            context = FrameContext(audio=audio[:, t], history=history, labels=labels, source=frame_source)
            x_t = self.decode(latent[:, t], context)
            generated.append(x_t)
            history = torch.cat([history[:, 1:], x_t.unsqueeze(1)], dim=1)
            if progress is not None:
                progress(t + 1, frames)
        return torch.stack(generated, dim=1)


class ExpFlow(CoefficientFlow):
    """Expression flow: context [β_0, audio, β_{t-τ..t-1}, emotion], per-emotion actnorm, Student-t mixture."""

    def __init__(self, config: FlowConfig | None = None, audio: AudioConfig | None = None, **overrides):
        config = dataclasses.replace(config or FlowConfig.expression(), **overrides)
        super().__init__(config, audio)


class PoseFlow(CoefficientFlow):
    """Pose flow: context [audio, ρ_{t-τ..t-1}], plain actnorm, N(0, I) latent (paper §3.2)."""

    def __init__(self, config: FlowConfig | None = None, audio: AudioConfig | None = None, **overrides):
        config = dataclasses.replace(config or FlowConfig.pose(), **overrides)
        super().__init__(config, audio)
