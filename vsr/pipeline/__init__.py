"""The streaming pipeline: decode → bounded queue → batched upscaler → bounded queue → encode + mux."""
