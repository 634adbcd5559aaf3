"""Shipped model weights (package data): ``digits_cnn.pt``, the digits-scene CNN of :mod:`..digits`."""
