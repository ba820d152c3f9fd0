"""Synthetic degradations for training restoration models: blur, resize chains, noise, JPEG and
real codec passes, sampled at random from ranges in a TOML table (`vsr.degrade.config`)."""
