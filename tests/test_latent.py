"""The latent distributions against scipy, and the sampler's moments."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import logsumexp

from flowvq_core.flows import StandardGaussian, StudentTMixture


@pytest.mark.parametrize("dof", [3.0, 50.0])
def test_student_t_log_prob_matches_scipy(dof):
    mixture = StudentTMixture(dim=7, num_classes=9, dof=dof).double()
    z = 2 * torch.randn(40, 7, dtype=torch.float64)
    labels = torch.randint(0, 9, (40,))
    ours = mixture.log_prob(z, labels).numpy()
    means = mixture.means.numpy()
    rows = zip(z.numpy(), labels.tolist(), strict=True)
    reference = np.array([stats.multivariate_t(loc=means[k], shape=np.eye(7), df=dof).logpdf(row) for row, k in rows])
    assert np.abs(ours - reference).max() < 1e-6
    every = np.stack([stats.multivariate_t(loc=m, shape=np.eye(7), df=dof).logpdf(z.numpy()) for m in means], 1)
    assert np.abs(mixture.log_prob(z).numpy() - (logsumexp(every, 1) - np.log(9))).max() < 1e-6


def test_standard_gaussian_log_prob_matches_scipy():
    z = torch.randn(10, 6, dtype=torch.float64)
    reference = stats.multivariate_normal(np.zeros(6), np.eye(6)).logpdf(z.numpy())
    assert np.abs(StandardGaussian(6).log_prob(z).numpy() - reference).max() < 1e-10


def test_means_are_fixed_standard_normal_draws_unless_learned():
    mixture = StudentTMixture(dim=64, num_classes=9)
    assert "means" not in dict(mixture.named_parameters())
    assert "means" in mixture.state_dict()
    assert abs(mixture.means.mean().item()) < 0.15 and 0.85 < mixture.means.std().item() < 1.15
    assert torch.equal(mixture.means, StudentTMixture(dim=64, num_classes=9).means), "construction is reproducible"
    assert "means" in dict(StudentTMixture(dim=4, learn_means=True).named_parameters())


@pytest.mark.parametrize("dof,temperature", [(5.0, 1.0), (50.0, 0.7)])
def test_samples_have_the_distributions_mean_and_covariance(dof, temperature):
    dim, count = 4, 40000
    mixture = StudentTMixture(dim=dim, num_classes=3, dof=dof).double()
    labels = torch.full((count,), 2)
    samples = mixture.sample(labels, temperature, torch.Generator().manual_seed(0))
    variance = dof / (dof - 2) * temperature**2
    standard_error = np.sqrt(variance / count)
    assert (samples.mean(0) - mixture.means[2]).abs().max() < 5 * standard_error
    covariance = torch.cov(samples.T)
    assert torch.allclose(torch.diagonal(covariance), torch.full((dim,), variance, dtype=torch.float64), rtol=0.08)
    off_diagonal = covariance - torch.diag(torch.diagonal(covariance))
    assert off_diagonal.abs().max() < 0.05 * variance


def test_samples_have_fat_tails_for_small_dof():
    """One χ² draw per vector: the squared norm follows D·F(D, ν), not χ²_D."""
    dim, dof, count = 3, 4.0, 20000
    mixture = StudentTMixture(dim=dim, num_classes=1, dof=dof).double()
    with torch.no_grad():
        mixture.means.zero_()
    samples = mixture.sample(torch.zeros(count, dtype=torch.long), 1.0, torch.Generator().manual_seed(1))
    statistic = (samples.pow(2).sum(1) / dim).numpy()
    assert stats.kstest(statistic, stats.f(dim, dof).cdf).pvalue > 0.001


def test_sampling_is_reproducible_from_a_seed():
    mixture = StudentTMixture(dim=5)
    labels = torch.tensor([0, 4, 8])
    first = mixture.sample(labels, 1.0, torch.Generator().manual_seed(7))
    again = mixture.sample(labels, 1.0, torch.Generator().manual_seed(7))
    other = mixture.sample(labels, 1.0, torch.Generator().manual_seed(8))
    assert torch.equal(first, again) and not torch.allclose(first, other)


def test_classify_picks_the_nearest_mean():
    mixture = StudentTMixture(dim=16)
    labels = torch.arange(9)
    assert torch.equal(mixture.classify(mixture.sample(labels, 0.1, torch.Generator().manual_seed(0))), labels)
