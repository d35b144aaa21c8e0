"""Write a frozen evaluation set (the demo test set or the dev held-out set): see ans.eval.test_set.

    python scripts/make_test_set.py [--corpus data/demo] [--out data/demo_test] [-n 48] [--force]
    python scripts/make_test_set.py --profile dev_heldout       # -> data/dev_heldout
"""

import sys
from pathlib import Path

if __package__ in (None, ""):  # standalone: make `ans` importable from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ans.eval.test_set import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
