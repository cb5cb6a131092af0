"""metagan: meta-learning GANs for few-shot image generation."""
__version__ = "0.1.0"
