"""Stage 2: distil the causal DFSMN student from a frozen teacher.

The teacher is loaded from its exported model.pt, put in eval mode with requires_grad off,
and run under no_grad to label every simulated batch. It is kept out of the module's
children (a plain attribute), so its weights never enter the student's checkpoints. The
student learns alpha * teacher_mask + (1 - alpha) * true PSM (alpha = 1: teacher only).
"""

from __future__ import annotations

import torch

from ans.errors import AnsError
from ans.lightning.mask_module import MaskModule
from ans.model import MaskEstimator


class DistillModule(MaskModule):
    def __init__(self, *args, teacher_ckpt: str, alpha: float = 1.0, **kwargs):
        kwargs.setdefault("kind", "student")
        super().__init__(*args, **kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"distill.alpha must be in [0, 1], got {alpha}")
        teacher = MaskEstimator.load(teacher_ckpt)
        if teacher.spec != self.spec:
            raise AnsError(f"the teacher was trained with another signal spec ({teacher.spec.describe()}) "
                           f"than this student's features ({self.spec.describe()}): pass the same "
                           "features= option", teacher_ckpt)
        teacher.requires_grad_(False)
        # object.__setattr__ hides it from nn.Module registration: not saved, not trained.
        object.__setattr__(self, "teacher", teacher.eval())
        self.teacher_ckpt, self.alpha = str(teacher_ckpt), float(alpha)
        self.teacher_info = {"path": str(teacher_ckpt), "git_rev": teacher.info.get("git_rev"),
                             "metrics": teacher.info.get("metrics", {})}
        # Same features as the teacher: start from its statistics (no refit needed).
        self.normalizer.mean.copy_(teacher.normalizer.mean)
        self.normalizer.std.copy_(teacher.normalizer.std)
        self.norm_fitted.fill_(True)

    def _move_teacher(self) -> None:
        if next(self.teacher.parameters()).device != self.device:
            self.teacher.to(self.device)
        self.teacher.eval()

    def on_fit_start(self) -> None:
        self._move_teacher()

    def on_validation_start(self) -> None:
        self._move_teacher()

    @torch.no_grad()
    def targets(self, prep: dict) -> torch.Tensor:
        self._move_teacher()
        teacher_mask = self.teacher(prep["feats"]).float()
        if self.alpha >= 1.0:
            return teacher_mask
        return self.alpha * teacher_mask + (1.0 - self.alpha) * prep["target"]
