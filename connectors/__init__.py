"""Connectors: encoders (open_clip, EfficientNet-Lite0, any callable), image loading and Qdrant."""

__all__: list[str] = []
