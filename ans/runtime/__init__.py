"""Torch-free inference: numpy features + onnxruntime over graphs exported by `ans.export`.

    from ans.runtime import OnnxEnhancer, OnnxStreamingEnhancer
    y48 = OnnxEnhancer().enhance(x, sr)          # bundled student (ans/runtime/models/)
    stream = OnnxStreamingEnhancer("exported/")  # any `ans-export` folder

Needs numpy, soundfile, onnxruntime and soxr only; importing it never imports torch.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MODEL_DIR", "OnnxEnhancer", "OnnxModel", "OnnxStreamingEnhancer"]


def __getattr__(name: str):
    if name in ("OnnxModel", "DEFAULT_MODEL_DIR"):
        from ans.runtime import model

        return getattr(model, name)
    if name == "OnnxEnhancer":
        from ans.runtime.offline import OnnxEnhancer

        return OnnxEnhancer
    if name == "OnnxStreamingEnhancer":
        from ans.runtime.streaming import OnnxStreamingEnhancer

        return OnnxStreamingEnhancer
    raise AttributeError(f"module 'ans.runtime' has no attribute {name!r}")
