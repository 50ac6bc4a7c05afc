"""Shipped model checkpoints, installed with the package as `centaurus_pretrained` (one folder per model:
model.safetensors, config.json and a model card, README.md)."""
