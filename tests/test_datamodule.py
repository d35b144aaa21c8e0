"""SimDataModule (ans/data/datamodule.py): batches, sampler sharding, workers, configs, faults."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ans.config import compose
from ans.data.corpus import Corpus
from ans.data.datamodule import EpochIndexSampler, SimDataModule, collate
from ans.data.simconfig import SimConfig
from ans.data.toy_corpus import make_toy_corpus
from ans.errors import AnsError

META_KEYS = {"snr_db", "category", "source_rate", "speech_id", "noise_id", "seed", "epoch", "index"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_corpus(tmp_path_factory.mktemp("d") / "toy", seed=0, seconds=3.0)


def _dm(corpus, **kw):
    args = dict(corpus_dir=str(corpus), seed=7, segment_seconds=1.0, batch_size=4, num_workers=0,
                train_items_per_epoch=8, valid_items=4, test_items=4)
    return SimDataModule(**(args | kw))


def test_sampler_epochs_and_rank_shards():
    s = EpochIndexSampler(10, num_replicas=1, rank=0)
    assert list(s) == [(0, i) for i in range(10)]
    s.set_epoch(3)
    assert list(s) == [(3, i) for i in range(10)]
    shards = [list(EpochIndexSampler(10, num_replicas=3, rank=r)) for r in range(3)]
    assert all(len(x) == 4 for x in shards)
    flat = [i for sh in shards for _, i in sh]
    assert len(set(flat)) == 12 and set(range(10)) <= set(flat)  # disjoint, covers the epoch
    assert isinstance(s, torch.utils.data.DistributedSampler)  # Lightning will not re-wrap it


def test_batches_follow_the_contract(toy):
    dm = _dm(toy)
    dm.setup("fit")
    b = next(iter(dm.train_dataloader()))
    for k in ("noisy", "clean", "noise"):
        assert b[k].shape == (4, 48_000) and b[k].dtype == torch.float32
        assert float(b[k].abs().max()) <= 1.0
    torch.testing.assert_close(b["noisy"], b["clean"] + b["noise"])
    assert META_KEYS <= set(b["meta"])
    assert b["meta"]["index"].tolist() == [0, 1, 2, 3] and b["meta"]["epoch"].tolist() == [0] * 4
    assert isinstance(b["meta"]["category"], list) and len(b["meta"]["speech_id"]) == 4
    vb = next(iter(dm.val_dataloader()))
    assert vb["meta"]["seed"].tolist() == [8] * 4  # seed + 1 for validation
    train_speakers = {Path(p).name[:5] for p in b["meta"]["speech_id"]}
    valid_speakers = {Path(p).name[:5] for p in vb["meta"]["speech_id"]}
    assert not train_speakers & valid_speakers


def test_workers_reproduce_and_epochs_differ(toy):
    def batches(workers, epoch):
        dm = _dm(toy, num_workers=workers, persistent_workers=False)
        dm.setup("fit")
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return list(loader)

    single, multi, other = batches(0, 1), batches(2, 1), batches(0, 2)
    for a, b in zip(single, multi):  # two workers: same items as one process
        assert torch.equal(a["noisy"], b["noisy"])
    flat = torch.cat([b["noisy"] for b in multi])
    assert len({tuple(x[:64].tolist()) for x in flat}) == flat.shape[0]  # all items differ
    assert not torch.equal(single[0]["noisy"], other[0]["noisy"])  # epochs differ


def test_validation_is_fixed(toy):
    a = next(iter(_dm(toy).val_dataloader()))
    b = next(iter(_dm(toy).val_dataloader()))
    assert torch.equal(a["noisy"], b["noisy"])
    t = next(iter(_dm(toy).test_dataloader()))
    assert not torch.equal(a["noisy"], t["noisy"])
    assert len(_dm(toy).test_dataset(3)) == 3


def test_missing_corpus_errors_and_toy_is_built_on_demand(tmp_path):
    with pytest.raises(AnsError, match="corpus folder not found"):
        _dm(tmp_path / "none").setup("fit")
    dm = _dm(tmp_path / "toy", build_toy=True)
    dm.setup("fit")
    assert (tmp_path / "toy" / "speech.jsonl").is_file()


def test_skipped_files_are_counted(tmp_path):
    root = make_toy_corpus(tmp_path / "toy", seconds=2.0)
    c = Corpus(root)
    for i in c.speech.select(split="train")[::2]:
        (root / c.speech.row(int(i))["path"]).write_bytes(b"")
    dm = _dm(root, train_items_per_epoch=12)
    dm.setup("fit")
    for b in dm.train_dataloader():
        dm.on_after_batch_transfer(b, 0)
    assert dm.skipped_files > 0


@pytest.mark.parametrize("name", ["toy", "demo"])
def test_hydra_configs(name, tmp_path):
    cfg = compose("teacher", [f"data={name}", f"paths.data_dir={tmp_path}", "seed=5"])
    sim = OmegaConf.to_container(cfg.data, resolve=True)["simulation"] or {}  # toy: null
    # SimConfig owns every default; a recipe lists only what it changes (and nothing unknown)
    assert set(sim) <= {f for f in SimConfig.__dataclass_fields__} - {"segment_seconds"}
    if name == "toy":
        assert SimConfig.from_dict(sim) == SimConfig()
    else:
        assert SimConfig.from_dict(sim).reverb_prob > 0 and SimConfig().reverb_prob == 0
    assert cfg.data.corpus_dir == str(tmp_path / name)
    if name == "toy":
        dm = instantiate(cfg.data, num_workers=0, batch_size=2, segment_seconds=1.0)
        dm.setup("fit")
        b = collate([dm._sets["train"][(0, 0)], dm._sets["train"][(0, 1)]])
        assert b["noisy"].shape == (2, 48_000) and b["meta"]["seed"].tolist() == [5, 5]
