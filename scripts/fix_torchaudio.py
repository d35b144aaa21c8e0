"""Make a CUDA-built torchaudio wheel importable beside the CPU torch wheel.

Every torchaudio wheel on PyPI links its compiled extension against CUDA torch
(libc10_cuda.so). Beside the CPU torch build that import fails. The pure-Python parts that
ans uses (compliance.kaldi.fbank, functional.resample, spectrogram, transforms) do not need
the extension, so when -- and only when -- the import fails we delete `torchaudio/lib/*.so`
and check the import again. Run by `make install` after every (re)install.
"""

import glob
import importlib.util
import os
import subprocess
import sys


def _imports() -> bool:
    code = "import torchaudio, torchaudio.compliance.kaldi"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def main() -> int:
    if _imports():
        print("torchaudio imports cleanly")
        return 0
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or spec.origin is None:
        print("torchaudio is not installed", file=sys.stderr)
        return 1
    libs = glob.glob(os.path.join(os.path.dirname(spec.origin), "lib", "*.so"))
    for path in libs:
        os.remove(path)
    if not _imports():
        print("torchaudio still fails to import after removing its extension", file=sys.stderr)
        return 1
    print(f"torchaudio: removed {len(libs)} CUDA-linked extension(s); imports cleanly now")
    return 0


if __name__ == "__main__":
    sys.exit(main())
