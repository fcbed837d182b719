"""The LightTrack search space, its supernet (paths == cut-out networks) and the per-unit cost tables."""
import numpy as np
import pytest
import torch

from compresstracker.errors import ConfigError
from compresstracker.families.lighttrack.network import LightTrackNet
from compresstracker.families.lighttrack.arch import MOBILE_PATH, LightTrackArch
from compresstracker.models import build_model, get_config
from compresstracker.search import space_for
from compresstracker.families.lighttrack.macs import count_lighttrack_macs
from compresstracker.search.costs import build_cost_table
from compresstracker.families.lighttrack.space import FIRST_OUTPUT_BLOCK, OUTPUT_GENE


def get_space(name):
    return space_for(get_config(name))


@pytest.fixture(scope="module")
def tiny():
    space = get_space("lighttrack_supernet_tiny")
    torch.manual_seed(0)
    supernet = build_model("lighttrack_supernet_tiny")
    # BN statistics that are not the identity, so a wrongly shared BN shows
    with torch.no_grad():
        for m in supernet.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return space, supernet.eval()


def test_path_strings_round_trip_and_canonical_form():
    space = get_space("lighttrack_supernet")
    rng = np.random.default_rng(3)
    for _ in range(50):
        genes = space.sample(rng)
        assert space.decode(space.encode(genes)) == genes
        LightTrackArch.from_path(space.encode(genes))  # an official path string
    mobile = space.decode(MOBILE_PATH)
    # the unbuilt 4th c96 block and the 192-channel genes are zero in the canonical string
    assert space.encode(mobile) == "back_04502514044521000000+cls_211000022+reg_100000111_ops_32"
    assert mobile[OUTPUT_GENE] == 6
    with pytest.raises(ConfigError):
        space.check([0] * 3)


def test_sampling_mutation_crossover_are_seeded_and_valid():
    space = get_space("lighttrack_supernet")
    a, b = (space.sample(np.random.default_rng(s)) for s in (1, 2))
    assert space.sample(np.random.default_rng(1)) == a
    assert space.mutate(a, np.random.default_rng(0), 0.0) == a
    assert space.mutate(a, np.random.default_rng(0), 1.0) != a
    groups = {}
    for i, gene in enumerate(space.genes):
        groups.setdefault(gene.group, []).append(i)
    for seed in range(20):
        child = space.crossover(a, b, np.random.default_rng(seed))
        assert space.canonical(child) == child
        end = FIRST_OUTPUT_BLOCK + child[OUTPUT_GENE]  # the child's last built block
        for group, idx in groups.items():
            if group.startswith("stage."):  # a whole stage from one parent: its built blocks (unbuilt ones are 0)
                idx = [i for i in idx if i <= end]
            assert all(child[i] == a[i] for i in idx) or all(child[i] == b[i] for i in idx), group
    # the first head layer never skips
    for seed in range(200):
        g = space.sample(np.random.default_rng(seed))
        assert g[OUTPUT_GENE + 2] != 2 and g[OUTPUT_GENE + 11] != 2


def test_space_size_counts_distinct_architectures():
    space = get_space("lighttrack_supernet")
    heads = (3 * 2 * 3**7) ** 2
    assert space.size() == sum(6 ** (7 + k) for k in range(8)) * heads


def test_supernet_path_equals_cut_out_network(tiny):
    space, supernet = tiny
    rng = np.random.default_rng(0)
    z, x = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 128, 128)
    for _ in range(4):
        genes = space.sample(rng)
        with torch.no_grad():
            out = supernet(z, x, space.to_arch(genes))
            net = supernet.extract(space.to_arch(genes)).eval()
            assert isinstance(net, LightTrackNet) and net.config.arch == space.to_arch(genes)
            ref = net(z, x)
        assert torch.equal(out["cls"], ref["cls"]) and torch.equal(out["reg"], ref["reg"])
        # a fresh network built from the config loads the cut-out weights strictly
        fresh = LightTrackNet(net.config)
        fresh.load_state_dict(net.state_dict(), strict=True)
    # weights are shared: a path's module is the supernet's
    genes = space.sample(rng)
    view = supernet.view(space.to_arch(genes))
    assert view.features.conv_stem is supernet.features.conv_stem


def test_cost_table_is_exact_for_macs_and_params(tiny):
    space, supernet = tiny
    table = build_cost_table(supernet)
    rng = np.random.default_rng(5)
    for _ in range(6):
        genes = space.sample(rng)
        net = supernet.extract(space.to_arch(genes)).eval()
        costs = table.costs(genes)
        assert costs["params"] == sum(p.numel() for p in net.parameters())
        assert costs["macs"] == count_lighttrack_macs(net)  # what `ctrack inspect` reports
    ranges = table.ranges()
    sampled = [table.costs(space.sample(rng))["macs"] for _ in range(300)]
    low, high = ranges["macs_range"]
    assert low <= min(sampled) and max(sampled) <= high and low < high


def test_the_space_says_where_its_supernet_lives_what_it_exports_and_what_latency_it_measures(tiny, tmp_path):
    from compresstracker.search.costs import latency_setting, table_path
    from compresstracker.search.run import supernet_file

    space, supernet = tiny
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(b"")
    assert supernet_file(tmp_path / "run") == tmp_path / "run" / "model.safetensors"
    with pytest.raises(ConfigError, match="LightTrack: model.safetensors"):
        supernet_file(tmp_path)
    assert space.winner_file == "subnet.safetensors"
    genes = space.sample(np.random.default_rng(2))
    assert space.network_config(supernet, genes) == space.extract(supernet, genes).config.to_dict()
    space.check_latency("torch", "fp32")
    for backend, precision in (("torch", "bf16"), ("openvino", "int8")):
        with pytest.raises(ConfigError) as err:
            space.check_latency(backend, precision)
        assert str(err.value) == f"the LightTrack space measures latency on torch fp32, not on {backend} {precision}"
    file = tmp_path / "run" / "model.safetensors"
    assert table_path(file).name == "model.costs.json"
    assert table_path(file, latency_setting("torch", "fp32", 2)).name == "model.latency-torch-fp32-t2.json"


def test_held_heads_leave_the_backbone_and_output_to_search(tiny, tmp_path):
    from compresstracker.families.lighttrack.supernet import SupernetConfig

    searched, supernet = tiny
    config = get_config("lighttrack_supernet_tiny", heads="held")
    assert "heads" not in get_config("lighttrack_supernet_tiny").to_dict()  # a searched-head supernet's record is as before
    assert SupernetConfig.from_dict(config.to_dict()) == config and config.to_dict()["heads"] == "held"
    with pytest.raises(ConfigError, match="heads must be one of searched, held"):
        get_config("lighttrack_supernet_tiny", heads="some")
    space = space_for(config)
    assert len(space.genes) == OUTPUT_GENE + 1 and space.size() * (3 * 2 * 3 ** 7) ** 2 == searched.size()
    largest = config.largest_head()
    rng = np.random.default_rng(3)
    for _ in range(5):
        genes = space.sample(rng)
        arch = space.to_arch(genes)
        assert arch.cls == arch.reg == largest and space.decode(space.encode(genes)) == genes
        # the same backbone and output as a searched-head path with those genes
        assert arch.backbone == searched.to_arch([*genes, *searched.sample(rng)[OUTPUT_GENE + 1:]]).backbone
    other = searched.to_arch(searched.sample(np.random.default_rng(0)))
    with pytest.raises(ConfigError, match="holds both heads at 211111111"):
        space.from_arch(other)
    held_net = build_model("lighttrack_supernet_tiny", heads="held")
    with pytest.raises(ConfigError, match="holds both heads at the largest"):
        held_net.view(other)
    # a held-head path computes what the searched-head supernet's path with those heads computes, with the same weights
    held_net.load_state_dict(supernet.state_dict())
    held_net.eval()
    genes = space.sample(rng)
    z, x = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        a = held_net(z, x, space.to_arch(genes))
        b = supernet(z, x, space.to_arch(genes))
    assert torch.equal(a["cls"], b["cls"]) and torch.equal(a["reg"], b["reg"])
    # every unit of the held space is costed, and its cheapest and dearest paths keep the held heads
    table = build_cost_table(held_net)
    low, high = space.minmax(lambda unit: table.units[unit]["macs"])
    assert all(space.to_arch(g).cls == largest for g in (low, high))
    assert table.costs(low)["macs"] < table.costs(high)["macs"]
