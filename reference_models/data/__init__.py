"""Data: crops (512×384 → 256×192), augmentations, HumanData / manifest sources, synthetic renders."""
