"""Losses of `facesmith train encoder` (e4e-style inversion into W+ of a frozen generator).

What the obtainable weights allow: pixel and multi-scale terms, distances between features of
the trained discriminator (a perceptual loss learnt on the same faces), an identity term (the
distance between face-recognition descriptors: facesmith_server.model.identity, dlib's ResNet
in PyTorch), an attribute term (the project's own attribute classifiers read the same on the
reconstruction as on the photo: gender, hair, smile, ...), e4e's delta regulariser (W+ rows
stay close to their first row, which keeps codes editable), and, on generated faces whose W
is known, a latent term.
Layouts: images [N, 3, S, S] in [-1, 1]; ws [N, num_ws, dim].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from facesmith_server.model.identity import FaceRecognitionNet, ffhq_descriptors
from facesmith_train.classify.model import AttributeNet
from facesmith_train.gan.discriminator import Discriminator

PYRAMID = (1, 2, 4)  # downscale factors of the multi-scale term
FEATURE_LAYERS = 3  # discriminator blocks compared (fromRGB + the first residual blocks)


def multiscale_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean L1 over an image pyramid: colour at full size, shape at the coarse levels."""
    terms = [F.l1_loss(F.avg_pool2d(fake, k), F.avg_pool2d(real, k)) for k in PYRAMID]
    return torch.stack(terms).mean()


def discriminator_features(
    discriminator: Discriminator, images: torch.Tensor
) -> list[torch.Tensor]:
    """Activations [N, C, h, w] after the first FEATURE_LAYERS blocks of the discriminator."""
    features = []
    x = images
    for block in list(discriminator.convs)[:FEATURE_LAYERS]:
        x = block(x)
        features.append(x)
    return features


def feature_loss(
    discriminator: Discriminator, fake: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """Mean squared distance of unit-normalised discriminator features (per position)."""
    with torch.no_grad():
        targets = discriminator_features(discriminator, real)
    terms = [
        (_unit(a) - _unit(b)).square().sum(dim=1).mean()
        for a, b in zip(discriminator_features(discriminator, fake), targets, strict=True)
    ]
    return torch.stack(terms).mean()


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / (x.square().sum(dim=1, keepdim=True).sqrt() + 1e-8)


def delta_regulariser(ws: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of every W+ row from the first (e4e's L_d2d)."""
    return (ws[:, 1:] - ws[:, :1]).square().sum(dim=2).mean()


def identity_loss(net: FaceRecognitionNet, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean distance between the descriptors of each reconstruction and its target (dlib's
    scale: the same person is below about 0.6). FFHQ-framed images in [-1, 1]."""
    with torch.no_grad():
        target = ffhq_descriptors(net, real)
    return (ffhq_descriptors(net, fake) - target).square().sum(dim=1).add(1e-8).sqrt().mean()


def attribute_loss(net: AttributeNet, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of the classifiers' outputs on each reconstruction against
    their probabilities on its target, less the targets' own entropy (0 when they agree): an
    attribute the photo shows must show on the reconstruction. Images in [-1, 1], framed as
    the classifiers were trained (the pack's crops)."""
    with torch.no_grad():
        target = torch.sigmoid(net(real))
        floor = F.binary_cross_entropy(target, target)
    return F.binary_cross_entropy_with_logits(net(fake), target) - floor
