"""Video models the studio drives through one interface: the built-in 3D-cache model, and
open-weights models through diffusers (Wan 2.x, LTX-Video) on a GPU worker, from local folders.

Nothing is fetched at run time: the hub's offline switches are set here, before any module of
this package imports diffusers or transformers, and every load passes ``local_files_only``.
``catalog`` and ``base`` import no model library, so the web process can read capabilities.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
