"""Trainers of the built-in model's stages. Never imported when serving."""
