"""A procedural synthetic world rendered through an exact physical camera.

Scene graph (`scene`), textures and sky (`textures`, `lighting`), articulated characters
(`characters`), Newtonian bodies (`physics`), vectorised ray casting (`geometry`, `renderer`),
cinematography captions (`captions`) and a training dataset (`dataset`). Plain PyTorch.
"""

from __future__ import annotations
