"""The two mask estimators: normalised fbank (B, T, 120) -> mask (B, T, 961) in [0, 1]."""

from ans.models.student import DFSMN
from ans.models.teacher import Teacher

__all__ = ["DFSMN", "Teacher"]
