"""VAE variants, architectures, losses, training and checkpoints (the torch half)."""
