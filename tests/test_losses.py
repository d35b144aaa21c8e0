import math

import pytest
import torch

from ans.augment import SpecAugment, first_bin_at
from ans.losses import MaskLoss, irm, magfft_weight, psm


def test_psm_hand_cases():
    y = torch.tensor([[2 + 0j, 1 + 0j, 1 + 0j, 1j]])
    s = torch.tensor([[1 + 0j, 2 + 0j, -1 + 0j, 1j * 0.5]])
    m = psm(s, y)
    # 0.5; clipped from 2; clipped from -1; in phase at half magnitude
    assert torch.allclose(m, torch.tensor([[0.5, 1.0, 0.0, 0.5]]), atol=1e-6)
    s90 = torch.tensor([[1j]])
    assert psm(s90, torch.tensor([[1 + 0j]])).item() == pytest.approx(0.0, abs=1e-6)
    assert irm(torch.tensor([[3 + 0j]]), torch.tensor([[4 + 0j]])).item() == pytest.approx(0.6, abs=1e-6)


def test_weightings():
    mag = torch.tensor([[[1.0, 2.0, 4.0], [0.0, 0.0, 0.0]]])
    lin = magfft_weight(mag, "linear")
    assert torch.allclose(lin[0, 0], torch.tensor([0.25, 0.5, 1.0]))
    assert torch.all(lin[0, 1] == 0)
    log = magfft_weight(mag, "log")
    assert log[0, 0, 2] == pytest.approx(1.0) and log[0, 0, 0] > lin[0, 0, 0]
    assert torch.all(magfft_weight(mag, "none") == 1)
    with pytest.raises(ValueError):
        magfft_weight(mag, "cubic")


def test_loss_value_by_hand():
    pred = torch.zeros(1, 2, 3)
    target = torch.ones(1, 2, 3)
    mag = torch.tensor([[[1.0, 2.0, 4.0], [1.0, 1.0, 1.0]]])
    # frame 0: w = [.25,.5,1] -> sum w^2 = 1.3125 ; frame 1: w = 1 -> 3 ; mean over 2 frames
    assert MaskLoss("linear")(pred, target, mag).item() == pytest.approx((1.3125 + 3) / 2)
    assert MaskLoss("none")(pred, target, mag).item() == pytest.approx(3.0)
    assert MaskLoss()(target, target, mag).item() == 0.0


def test_specaug_masks_only_high_bins_and_short_spans():
    aug = SpecAugment(p=1.0, freq_masks=3, max_freq_width=20, time_masks=2, max_time_frames=50)
    assert aug.min_bin == first_bin_at(2000.0) == 45
    x = torch.ones(16, 200, 120)
    g = torch.Generator().manual_seed(0)
    y = aug.train()(x, g)
    zero_cols = (y == 0).all(dim=1)  # (B, F): bins masked over all frames
    assert not zero_cols[:, :45].any() and zero_cols[:, 45:].any()
    zero_rows = (y == 0).all(dim=2)  # (B, T)
    assert zero_rows.any() and zero_rows.sum(1).max() <= 100
    assert torch.equal(aug.eval()(x), x) and torch.equal(x, torch.ones_like(x))


def test_specaug_probability():
    aug = SpecAugment(p=0.6, freq_masks=1, max_freq_width=10, time_masks=0).train()
    g = torch.Generator().manual_seed(1)
    hits = 0
    for _ in range(50):
        y = aug(torch.ones(20, 10, 120), g)
        hits += int(((y == 0).any(dim=(1, 2))).sum())
    # a freq mask has width 0 with probability 1/11, so touched samples ~ 0.6 * 10/11
    assert math.isclose(hits / 1000, 0.6 * 10 / 11, abs_tol=0.05)


def test_suppress_weight_charges_removed_speech_more():
    """Asymmetric loss: the same error costs suppress_weight^2 x below the target (speech
    removed) and 1 x above it (noise left); 1 is the symmetric loss; < 1 is refused."""
    torch.manual_seed(0)
    target = torch.rand(2, 5, 9) * 0.5 + 0.25
    mag = torch.rand(2, 5, 9) + 0.1
    sym, asym = MaskLoss(weighting="none"), MaskLoss(weighting="none", suppress_weight=2.0)
    below, above = target - 0.1, target + 0.1
    assert torch.isclose(sym(below, target, mag), sym(above, target, mag))
    assert torch.isclose(asym(above, target, mag), sym(above, target, mag))
    assert torch.isclose(asym(below, target, mag), 4 * sym(below, target, mag))
    with pytest.raises(ValueError, match="suppress_weight"):
        MaskLoss(suppress_weight=0.5)
