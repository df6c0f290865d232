"""Training the project's own model pack: data preparation, GAN, encoder, directions."""
