"""Reference (ModelScope) checkpoint <-> model.pt, both ways, outputs identical."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from ans.checkpoint import build_model, load_model, save_model
from ans.convert import from_modelscope, main, reference_keys, to_modelscope
from ans.errors import AnsError
from ans.features import Normalizer


def reference_state_dict(depth: int = 9, lorder: int = 20, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the reference key names and shapes (written out, not taken from ans)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    sd = {"linear1.linear.weight": r(256, 120, scale=0.02), "linear1.linear.bias": r(256)}
    for i in range(depth):
        sd[f"deepfsmn.{i}.linear.weight"] = r(256, 256, scale=0.06)
        sd[f"deepfsmn.{i}.linear.bias"] = r(256)
        sd[f"deepfsmn.{i}.project.weight"] = r(256, 256, scale=0.06)
        sd[f"deepfsmn.{i}.conv1.weight"] = r(256, 1, lorder, 1)
    sd["linear2.linear.weight"], sd["linear2.linear.bias"] = r(961, 256, scale=0.01), r(961)
    return sd


def reference_forward(sd: dict[str, torch.Tensor], feats: torch.Tensor) -> torch.Tensor:
    """The reference DfsmnAns forward, re-typed from its published structure (raw fbank in)."""
    x = F.relu(F.linear(feats, sd["linear1.linear.weight"], sd["linear1.linear.bias"]))
    i = 0
    while f"deepfsmn.{i}.linear.weight" in sd:
        p = F.linear(F.relu(F.linear(x, sd[f"deepfsmn.{i}.linear.weight"], sd[f"deepfsmn.{i}.linear.bias"])),
                     sd[f"deepfsmn.{i}.project.weight"])
        w = sd[f"deepfsmn.{i}.conv1.weight"]
        x_per = p.unsqueeze(1).permute(0, 3, 2, 1)  # B, H, T, 1
        y = F.pad(x_per, [0, 0, w.shape[2] - 1, 0])
        x = x + (x_per + F.conv2d(y, w, groups=w.shape[0])).permute(0, 3, 2, 1).squeeze(1)
        i += 1
    return torch.sigmoid(F.linear(x, sd["linear2.linear.weight"], sd["linear2.linear.bias"]))


def fbank_like(b: int = 2, t: int = 60, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 120, generator=g) * 3 + 8  # raw log-mel fbank range


@pytest.fixture
def reference_dir(tmp_path):
    d = tmp_path / "speech_dfsmn_ans_psm_48k_causal"
    d.mkdir()
    sd = reference_state_dict()
    assert len(sd) == 40 and list(sd) == reference_keys(9)
    torch.save(sd, d / "pytorch_model.bin")
    cfg = {"framework": "pytorch", "model": {"type": "speech_dfsmn_ans", "fsmn_depth": 9, "lorder": 20}}
    (d / "configuration.json").write_text(json.dumps(cfg))
    return d, sd


@torch.no_grad()
def test_modelscope_to_model_pt_identical(reference_dir, tmp_path):
    d, sd = reference_dir
    out = tmp_path / "model.pt"
    assert main(["modelscope", str(d / "pytorch_model.bin"), "-o", str(out),
                 "--config", str(d / "configuration.json")]) == 0
    model, norm, payload = load_model(out)
    assert payload["kind"] == "student" and payload["config"]["source"] == "modelscope"
    assert payload["model_kwargs"]["fsmn_depth"] == 9 and payload["model_kwargs"]["lorder"] == 20
    assert payload["parameters"] == 1_505_985
    assert torch.equal(norm.mean, torch.zeros(120)) and torch.equal(norm.std, torch.ones(120))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
    x = fbank_like()
    assert (model(norm(x)) - reference_forward(sd, x)).abs().max() <= 1e-6


@torch.no_grad()
def test_arch_inferred_without_config(tmp_path):
    sd = reference_state_dict(depth=3, lorder=7)
    torch.save(sd, tmp_path / "pytorch_model.bin")
    model, _, payload = load_model(from_modelscope(tmp_path / "pytorch_model.bin", tmp_path / "m.pt"))
    assert (model.fsmn_depth, model.lorder, model.rorder) == (3, 7, 0)
    assert payload["config"]["reference_config"] is None
    x = fbank_like(1, 30)
    assert (model(x) - reference_forward(sd, x)).abs().max() <= 1e-6


def test_config_disagreeing_with_weights(reference_dir, tmp_path):
    d, _ = reference_dir
    (d / "configuration.json").write_text(json.dumps({"model": {"type": "speech_dfsmn_ans", "lorder": 10}}))
    with pytest.raises(AnsError, match="lorder") as e:
        from_modelscope(d / "pytorch_model.bin", tmp_path / "m.pt")  # picks up the sibling config
    assert "configuration.json" in str(e.value)
    assert not (tmp_path / "m.pt").exists()


@torch.no_grad()
def test_round_trip_model_pt_modelscope_model_pt(reference_dir, tmp_path):
    d, sd = reference_dir
    first = from_modelscope(d / "pytorch_model.bin", tmp_path / "a.pt")
    assert main(["to-modelscope", str(first), "-o", str(tmp_path / "ms")]) == 0
    out_sd = torch.load(tmp_path / "ms" / "pytorch_model.bin", weights_only=True)
    assert list(out_sd) == reference_keys(9) and all(torch.equal(out_sd[k], v) for k, v in sd.items())
    cfg = json.loads((tmp_path / "ms" / "configuration.json").read_text())
    assert cfg["model"] == {"type": "speech_dfsmn_ans", "fsmn_depth": 9, "lorder": 20}
    second = from_modelscope(tmp_path / "ms" / "pytorch_model.bin", tmp_path / "b.pt")
    (m1, n1, _), (m2, n2, _) = load_model(first), load_model(second)
    assert all(torch.equal(v, m2.state_dict()[k]) for k, v in m1.state_dict().items())
    x = fbank_like()
    assert torch.equal(m1(n1(x)), m2(n2(x)))


@torch.no_grad()
def test_normalizer_folded_into_linear1(tmp_path):
    torch.manual_seed(3)
    model = build_model("ans.models.student.DFSMN").eval()
    norm = Normalizer()
    norm.mean.copy_(torch.rand(120) * 6 + 5)
    norm.std.copy_(torch.rand(120) * 3 + 0.5)
    save_model(tmp_path / "trained.pt", model, "student", norm)
    to_modelscope(tmp_path / "trained.pt", tmp_path / "ms")
    folded = torch.load(tmp_path / "ms" / "pytorch_model.bin", weights_only=True)
    x = fbank_like()
    want = model(norm(x))
    assert (reference_forward(folded, x) - want).abs().max() <= 1e-5  # reference loader, raw fbank
    back, back_norm, _ = load_model(from_modelscope(tmp_path / "ms" / "pytorch_model.bin", tmp_path / "b.pt"))
    assert (back(back_norm(x)) - want).abs().max() <= 1e-5


def _bad(path, capsys, *extra) -> str:
    assert main(["modelscope", str(path), "-o", str(path.parent / "out.pt"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and not (path.parent / "out.pt").exists()
    return err


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert "no such" in _bad(tmp_path / "missing.bin", capsys)
    sd = reference_state_dict(depth=2, lorder=5)
    renamed = dict(sd)
    renamed["linear1.weight"] = renamed.pop("linear1.linear.weight")
    torch.save(renamed, tmp_path / "keys.bin")
    err = _bad(tmp_path / "keys.bin", capsys)
    assert "keys.bin" in err and "missing linear1.linear.weight" in err and "unexpected linear1.weight" in err
    shaped = dict(sd, **{"deepfsmn.1.project.weight": torch.zeros(256, 128)})
    torch.save(shaped, tmp_path / "shape.bin")
    assert "deepfsmn.1.project.weight" in _bad(tmp_path / "shape.bin", capsys)
    torch.save([1, 2, 3], tmp_path / "list.bin")
    assert "not a state dict" in _bad(tmp_path / "list.bin", capsys)
    (tmp_path / "text.bin").write_text("hello")
    assert "text.bin" in _bad(tmp_path / "text.bin", capsys)
    torch.save(sd, tmp_path / "ok.bin")
    (tmp_path / "cfg.json").write_text("{not json")
    assert "cfg.json" in _bad(tmp_path / "ok.bin", capsys, "--config", str(tmp_path / "cfg.json"))


def test_to_modelscope_refuses_non_reference_models(tmp_path):
    teacher = build_model("ans.models.teacher.Teacher", channels=16, lstm_hidden=8)
    save_model(tmp_path / "t.pt", teacher, "teacher", Normalizer())
    with pytest.raises(AnsError, match="only a DFSMN student"):
        to_modelscope(tmp_path / "t.pt", tmp_path / "o")
    small = build_model("ans.models.student.DFSMN", hidden=64, fsmn_depth=2, lorder=4)
    save_model(tmp_path / "s.pt", small, "student", Normalizer())
    with pytest.raises(AnsError, match="fixed at 120 -> 256 -> 961"):
        to_modelscope(tmp_path / "s.pt", tmp_path / "o")
    assert not (tmp_path / "o").exists()
