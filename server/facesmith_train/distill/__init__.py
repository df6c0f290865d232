"""Students: one-pass edits distilled from a pack's generator (`facesmith train student`).

pairs (a generated face and the same latent moved along one of the pack's directions),
train (a small U-Net that maps the first to the second), install (the student into the pack's
manifest) and measure (against the inverted path on real faces)."""
