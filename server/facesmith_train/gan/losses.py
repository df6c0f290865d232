"""StyleGAN2 losses: non-saturating logistic GAN loss and the R1 gradient penalty."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic loss of D: -log sigmoid(real) - log(1 - sigmoid(fake)), batch mean."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating loss of G: -log sigmoid(fake), batch mean (strong gradient early on)."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of |d D(x) / d x|^2 at real images (which need requires_grad).

    Penalising D's slope on the data keeps it from overshooting and stabilises training.
    create_graph=True so that the penalty itself can be back-propagated into D.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.float().square().sum(dim=[1, 2, 3]).mean()


def default_r1_gamma(size: int, batch: int) -> float:
    """StyleGAN2-ADA's heuristic gamma = 0.0002 * size^2 / batch (e.g. 0.1 at 64 px, batch 8)."""
    return 0.0002 * size * size / batch
