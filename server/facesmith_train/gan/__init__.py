"""StyleGAN2 training: the discriminator, augmentation, losses, one step, resumable
checkpoints, label conditioning carried in z (`condition`), sample grids, the loop and its
command-line options.

May import the server's networks, ``data`` and ``facesmith_train``'s helpers.
"""
