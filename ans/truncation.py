"""Truncated-file checks: libsndfile reads whatever is there without a word, so a cut upload or
copy would be enhanced into a short output. Torch-free (the onnx runtime uses it too)."""

from __future__ import annotations

import struct

from ans.errors import AnsError

_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
_MAX_CHUNKS = 10_000  # a hostile chunk list cannot make the walk run long


def check_complete(f, size: int, label: str) -> None:
    """Refuse a RIFF/RIFX/RF64/BW64/W64 file whose data chunk declares more bytes than the file
    holds. `f`: a seekable binary file; the chunk list is walked with seeks, so a data chunk
    behind large metadata is found too. Other formats pass (see `check_frames`)."""
    f.seek(0)
    head = f.read(40)
    if len(head) >= 40 and head[:16] == _W64_RIFF:
        return _check_w64(f, size, label)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64", b"BW64") or head[8:12] != b"WAVE":
        return None
    fmt = ">I" if head[:4] == b"RIFX" else "<I"
    pos, big_data = 12, None
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            return None
        cid, csize = hdr[:4], struct.unpack(fmt, hdr[4:])[0]
        if cid == b"ds64":  # RF64: the real 64-bit sizes (riff, data, sample count)
            ds = f.read(16)
            if len(ds) == 16:
                big_data = struct.unpack("<Q", ds[8:16])[0]
        if cid == b"data":
            if csize == 0xFFFFFFFF and big_data is not None:
                csize = big_data
            avail = size - pos - 8
            known = csize < 0xFFFFFFFF or big_data is not None  # 0xFFFFFFFF alone: "streamed, unknown"
            if known and 0 < csize and csize > avail:
                raise AnsError(f"truncated wav file (header declares {csize} bytes of audio, "
                               f"file holds {max(avail, 0)})", label)
            return None
        pos += 8 + csize + (csize & 1)
    return None


def _check_w64(f, size: int, label: str) -> None:
    pos = 40  # riff guid + u64 size + wave guid; chunks: 16-byte guid + u64 size (header included)
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        csize = struct.unpack("<Q", hdr[16:24])[0]
        if hdr[:4] == b"data":
            declared, avail = csize - 24, size - pos - 24
            if declared > avail:
                raise AnsError(f"truncated w64 file (header declares {declared} bytes of audio, "
                               f"file holds {max(avail, 0)})", label)
            return
        if csize < 24:
            return
        pos += (csize + 7) & ~7


def check_frames(declared: int, got: int, label: str) -> None:
    """Refuse a file that decodes to clearly fewer frames than its header declares (a cut mp3:
    the decoder stops where the bytes end). One mp3 frame (1152 x 2) of slack for encoder delay."""
    if 0 < got < declared - max(2304, declared // 100) or (got == 0 and declared > 2304):
        raise AnsError(f"truncated or damaged audio file (header declares {declared} frames, "
                       f"{got} could be decoded)", label)
