import pytest
import torch

from ans.features import (
    FRAME,
    HOP,
    N_BINS,
    N_MELS,
    FeatureExtractor,
    Normalizer,
    kaldi_fbank_reference,
    num_frames,
)


@pytest.mark.parametrize("n", [1, 959, 960, 961, 1920, 4801, 48_000 + 123])
def test_fbank_matches_torchaudio_and_frames_align(n):
    torch.manual_seed(n)
    x = 0.1 * torch.randn(n)
    fe = FeatureExtractor().eval()
    ours, ref = fe.fbank(x), kaldi_fbank_reference(x)
    spec = fe.stft(x)
    assert ours.shape == ref.shape == (num_frames(n), N_MELS)
    assert spec.shape == (num_frames(n), N_BINS)
    assert (ours - ref).abs().max() <= 1e-3


def test_batched_equals_single():
    x = 0.1 * torch.randn(3, 10_000)
    fe = FeatureExtractor().eval()
    batched = fe.fbank(x)
    for i in range(3):
        assert torch.allclose(batched[i], fe.fbank(x[i]), atol=1e-5)


@pytest.mark.parametrize("n", [1, 960, 12_345])
def test_istft_inverts_stft_exactly_same_length(n):
    x = 0.3 * torch.randn(2, n)
    fe = FeatureExtractor()
    y = fe.istft(fe.stft(x), n)
    assert y.shape == x.shape
    assert (y - x).abs().max() < 1e-5


def test_frame_helpers_match_offline_stft():
    fe = FeatureExtractor()
    x = torch.randn(5 * HOP)
    spec = fe.stft(x)
    padded = torch.nn.functional.pad(x, (HOP, 3 * HOP))
    frame2 = padded[2 * HOP: 2 * HOP + FRAME]
    assert torch.allclose(fe.analysis_frame(frame2), spec[2], atol=1e-4)


def test_dither_only_in_training():
    x = torch.zeros(4800)
    fe = FeatureExtractor(dither=1.0)
    fe.eval()
    assert torch.equal(fe.fbank(x), fe.fbank(x))
    fe.train()
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)
    assert not torch.equal(fe.fbank(x, g1), fe.fbank(x, g2))


def test_normalizer_fit_and_roundtrip():
    data = [torch.randn(4, 10, N_MELS) * 3 + 5 for _ in range(5)]
    norm = Normalizer().fit(data)
    out = norm(torch.cat([d.reshape(-1, N_MELS) for d in data]))
    assert out.mean(0).abs().max() < 1e-3 and (out.std(0) - 1).abs().max() < 1e-2
    again = Normalizer.from_state(norm.state())
    assert torch.allclose(again.mean, norm.mean) and torch.allclose(again.std, norm.std)
