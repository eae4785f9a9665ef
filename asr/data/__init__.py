"""Manifests, and later the synthetic corpus and augmentation."""
