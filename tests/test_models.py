import pytest
import torch

from ans.checkpoint import build_model
from ans.models import DFSMN, Teacher

REFERENCE_KEYS = (["linear1.linear.weight", "linear1.linear.bias"]
                  + [f"deepfsmn.{i}.{k}" for i in range(9)
                     for k in ("linear.weight", "linear.bias", "project.weight", "conv1.weight")]
                  + ["linear2.linear.weight", "linear2.linear.bias"])


def test_student_matches_reference_parameters_and_keys():
    m = DFSMN()
    sd = m.state_dict()
    assert sum(p.numel() for p in m.parameters()) == 1_505_985
    assert list(sd) == REFERENCE_KEYS and len(sd) == 40
    assert sd["deepfsmn.3.conv1.weight"].shape == (256, 1, 20, 1)
    assert sd["linear1.linear.weight"].shape == (256, 120)
    assert sd["linear2.linear.weight"].shape == (961, 256)
    assert abs(m.macs_per_frame() - 1.5e6) < 0.01e6


@pytest.mark.parametrize("b,t", [(1, 1), (1, 7), (3, 40)])
def test_shapes_and_range(b, t):
    x = torch.randn(b, t, 120)
    for model in (DFSMN(), Teacher(channels=16, lstm_hidden=8)):
        y = model.eval()(x)
        assert y.shape == (b, t, 961)
        assert y.min() >= 0 and y.max() <= 1


def test_student_is_causal():
    torch.manual_seed(0)
    m = DFSMN().eval()
    x = torch.randn(2, 60, 120)
    y = m(x)
    x2 = x.clone()
    x2[:, 30:] = torch.randn(2, 30, 120) * 5
    y2 = m(x2)
    assert torch.equal(y[:, :30], y2[:, :30])
    assert not torch.allclose(y[:, 30:], y2[:, 30:])


def test_lookahead_sees_future_frames():
    torch.manual_seed(0)
    m = DFSMN(rorder=2, fsmn_depth=2).eval()
    x = torch.randn(1, 20, 120)
    x2 = x.clone()
    x2[:, 10] += 3
    assert not torch.allclose(m(x)[:, 9], m(x2)[:, 9])
    assert torch.equal(m(x)[:, :6], m(x2)[:, :6])


def test_streaming_step_equals_offline():
    torch.manual_seed(1)
    m = DFSMN().eval()
    x = torch.randn(2, 45, 120)
    cache = m.init_cache(2)
    outs = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            o, cache = m.step(x[:, t], cache)
            outs.append(o)
        assert (torch.stack(outs, 1) - m(x)).abs().max() < 1e-5
    assert cache.shape == (2, 9, 19, 256)


def test_teacher_is_bidirectional_and_configurable():
    t = build_model("ans.models.teacher.Teacher", channels=32, lstm_hidden=16, n_dec=2).eval()
    x = torch.randn(1, 30, 120)
    x2 = x.clone()
    x2[:, 8:] += 5
    assert not torch.equal(t(x)[:, :5], t(x2)[:, :5])  # non-causal: the future matters
    assert t._init_kwargs["channels"] == 32
    with pytest.raises(ValueError):
        Teacher(kernel=4)
