import pytest
import torch
from hydra.utils import instantiate

from ans.config import compose
from ans.errors import AnsError
from ans.features import FeatureExtractor, Normalizer, kaldi_fbank_reference
from ans.signal_spec import REFERENCE, SignalSpec

HOP, FRAME, N_MELS = REFERENCE.hop, REFERENCE.frame, REFERENCE.n_mels


def spec_of(option: str) -> SignalSpec:
    return instantiate(compose("teacher", [f"features={option}"]).features).spec


def test_config_specs():
    """configs/features: kaldi is the reference 48 kHz spec; 16k/8k keep 40/20 ms frames."""
    assert spec_of("kaldi") == REFERENCE
    for option, rate in (("16k", 16_000), ("8k", 8_000)):
        s = spec_of(option)
        assert s.sample_rate == rate and s.high_freq == rate / 2 and s.n_mels < REFERENCE.n_mels
        assert s.ms(s.frame) == 40.0 and s.ms(s.hop) == 20.0 and s.n_bins == s.frame // 2 + 1


def test_spec_dict_roundtrip_and_checks():
    assert SignalSpec.from_dict(REFERENCE.to_dict()) == REFERENCE
    with pytest.raises(AnsError, match="twice the hop"):
        SignalSpec.from_dict({**REFERENCE.to_dict(), "hop": 900}, "m.pt")
    with pytest.raises(AnsError, match="n_bins"):
        SignalSpec.from_dict({**REFERENCE.to_dict(), "n_bins": 960}, "m.pt")
    with pytest.raises(AnsError, match="missing sample_rate"):
        SignalSpec.from_dict({k: v for k, v in REFERENCE.to_dict().items() if k != "sample_rate"}, "m.pt")


@pytest.mark.parametrize("option", ["kaldi", "16k", "8k"])
@pytest.mark.parametrize("seconds", [0.00002, 0.02, 0.04, 1.0021])
def test_fbank_matches_torchaudio_and_frames_align(option, seconds):
    s = spec_of(option)
    n = max(1, round(seconds * s.sample_rate))
    torch.manual_seed(n)
    x = 0.1 * torch.randn(n)
    fe = FeatureExtractor(s).eval()
    ours, ref = fe.fbank(x), kaldi_fbank_reference(x, s)
    spec = fe.stft(x)
    assert ours.shape == ref.shape == (s.num_frames(n), s.n_mels)
    assert spec.shape == (s.num_frames(n), s.n_bins)
    assert (ours - ref).abs().max() <= 1e-3
    assert fe.istft(spec, n).shape == (n,)


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
