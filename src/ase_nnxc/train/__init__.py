"""Training neural XC functionals: datasets, losses, the trainer and checkpoints."""
