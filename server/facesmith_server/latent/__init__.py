"""Working in the latent space: inverting faces (encoder, refinement, pivotal tuning), edits
as latent arithmetic, fitting directions with classifiers, converting Z boundaries to W.

May import ``model`` and the package's ``errors`` / ``devices``.
"""
