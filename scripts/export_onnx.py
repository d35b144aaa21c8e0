"""Export a model.pt to ONNX (offline + streaming graphs and export.json); see ans/export.py.

    python scripts/export_onnx.py MODEL.pt -o OUT_DIR [--opset 17] [--offline-only] [--no-normalizer]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # standalone: make `ans` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ans.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
