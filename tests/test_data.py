"""Tests for models/data.py: the synthetic jet generator and the hls4ml LHC jet h5 loader."""
from __future__ import annotations


import h5py
import numpy as np
import pytest

from trigformer.models.data import (
    CLASSES,
    FEATURES_AVAILABLE,
    H5_PARTICLE_NAMES,
    build_dataset,
    load_hls4ml_jets,
    make_synthetic,
)

ALL = FEATURES_AVAILABLE
PT, ETA, PHI, DR, LOGPT = (ALL.index(name) for name in ("pt_rel", "eta_rel", "phi_rel", "delta_r", "log_pt_rel"))


@pytest.fixture(scope="module")
def jets_full():
    """5000 jets with room for every constituent (no truncation), shared by the physics checks."""
    return make_synthetic(5000, 300, ALL, seed=7)


@pytest.fixture(scope="module")
def jets16():
    return make_synthetic(2000, 16, ALL, seed=3)


def _jet_mass_gev(x, jet_pt=1000.0):
    """Small-angle jet mass, m^2 = pT^2 * sum_i<j p_i p_j dR_ij^2 = pT^2 * (sum p r^2 - |sum p r|^2) for sum p = 1."""
    pt, eta, phi = x[..., PT], x[..., ETA], x[..., PHI]
    m2 = (pt * (eta**2 + phi**2)).sum(1) - (pt * eta).sum(1) ** 2 - (pt * phi).sum(1) ** 2
    return jet_pt * np.sqrt(np.maximum(m2, 0))


# ---------------------------------------------------------------- synthetic: determinism, layout


def test_same_seed_identical_different_seed_differs():
    """Reference: a second, independent call (bitwise equality); progress and chunking must not change the draw."""
    a = make_synthetic(5000, 16, ALL, seed=11)  # > one 4096-jet chunk
    b = make_synthetic(5000, 16, ALL, seed=11, progress=True)
    c = make_synthetic(5000, 16, ALL, seed=12)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[1], c[1])


def test_shapes_dtypes_and_balanced_labels(jets16):
    """Reference: the documented layout, and n // 5 jets per class for n = 2000."""
    x, y = jets16
    assert x.shape == (2000, 16, len(ALL)) and x.dtype == np.float32
    assert y.shape == (2000,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y, minlength=len(CLASSES)), [400] * 5)


def test_feature_subset_and_order_follow_request(jets16):
    """Reference: the all-feature draw with the same seed, columns picked by name."""
    x_all, _ = jets16
    x, _ = make_synthetic(2000, 16, ("delta_r", "pt_rel"), seed=3)
    assert np.array_equal(x, x_all[..., [DR, PT]])


def test_padding_rows_are_zero_and_sorted_by_pt(jets16):
    """Reference: definitions - padding only after the real constituents, all of its features 0, pt_rel descending."""
    x, _ = jets16
    pt = x[..., PT]
    real = pt > 0
    assert np.all(np.diff(real.astype(int), axis=1) <= 0)  # no real constituent after a padding row
    assert np.all(x[~real] == 0)
    assert np.all(np.diff(pt, axis=1) <= 0)
    assert (~real).any(), "some jets should have fewer than 16 constituents, else padding is untested"


def test_feature_ranges_and_definitions(jets16):
    """Reference: delta_r = hypot(eta_rel, phi_rel), log_pt_rel = max(log pt_rel, -10); values inside the R=0.8 cone."""
    x, _ = jets16
    real = x[..., PT] > 0
    assert np.all((x[..., PT] >= 0) & (x[..., PT] <= 1))
    assert np.abs(x[..., ETA]).max() <= 0.9 and np.abs(x[..., PHI]).max() <= 0.9
    np.testing.assert_allclose(x[..., DR], np.hypot(x[..., ETA], x[..., PHI]), atol=1e-6)
    np.testing.assert_allclose(x[..., LOGPT][real], np.maximum(np.log(x[..., PT][real]), -10), atol=1e-5)
    assert np.all(x[..., LOGPT] <= 0)


def test_pt_rel_sums_to_one_and_axis_is_pt_weighted(jets_full):
    """Reference: pt_rel normalises by the sum over all constituents; the axis is the pT-weighted centroid."""
    x, _ = jets_full
    assert (x[:, -1, PT] == 0).all(), "n_particles=300 must hold every constituent for this check"
    pt = x[..., PT].astype(np.float64)
    np.testing.assert_allclose(pt.sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose((pt * x[..., ETA]).sum(1), 0.0, atol=1e-5)
    np.testing.assert_allclose((pt * x[..., PHI]).sum(1), 0.0, atol=1e-5)


def test_truncation_keeps_leading_constituents():
    """Reference: the untruncated draw with the same seed; truncation must not renormalise pt_rel."""
    x_full, _ = make_synthetic(500, 300, ALL, seed=5)
    x_16, _ = make_synthetic(500, 16, ALL, seed=5)
    assert np.array_equal(x_16, x_full[:, :16])
    assert np.all(x_16[..., PT].sum(1) <= 1 + 1e-6)


# ---------------------------------------------------------------- synthetic: physics structure


def test_gluon_jets_have_more_constituents_than_quark(jets_full):
    """Reference: Casimir scaling C_A/C_F = 9/4 of the emissions; measured hadron multiplicity ratio ~1.5."""
    x, y = jets_full
    mult = (x[..., PT] > 0).sum(1)
    ratio = mult[y == 0].mean() / mult[y == 1].mean()
    assert 1.2 < ratio < 2.25


def test_jet_width_orders_by_prong_count(jets_full):
    """Reference: prong count (q 1, W/Z 2, t 3) and dR ~ 2m/pT - girth sum(pt_rel * dR) orders q < g, q < W, Z < t."""
    x, y = jets_full
    girth = (x[..., PT] * x[..., DR]).sum(1)
    g, q, w, z, t = (girth[y == c].mean() for c in range(5))
    assert q < g and q < w < t and q < z < t
    assert abs(z / w - 1) < 0.25, "W and Z differ only by 13% in mass, so their widths must be close"


def test_jet_mass_peaks_follow_resonance_masses(jets_full):
    """Reference: PDG masses W 80.4, Z 91.2, top 173 GeV at pT ~ 1 TeV; radiation only adds mass on top."""
    x, y = jets_full
    mass = _jet_mass_gev(x)
    q, w, z, t = (np.median(mass[y == c]) for c in (1, 2, 3, 4))
    assert 80 < w < 115 and 90 < z < 125 and 165 < t < 210
    assert 1.03 < z / w < 1.2  # PDG ratio 1.134, diluted by the shared radiation
    assert q < w


# ---------------------------------------------------------------- build_dataset and errors


def test_build_dataset_synthetic_is_deterministic_and_disjoint():
    """Reference: a second call with the same seed; no test jet may repeat a train jet (independent child streams).

    Equal train/test sizes, so reusing one seed for both would give identical sets and fail the disjointness check.
    """
    d = build_dataset("synthetic", None, 16, ["pt_rel", "eta_rel"], 200, 200, seed=1)
    again = build_dataset("synthetic", None, 16, ["pt_rel", "eta_rel"], 200, 200, seed=1)
    assert d.x_train.shape == (200, 16, 2) and d.x_test.shape == (200, 16, 2)
    assert d.feature_names == ("pt_rel", "eta_rel") and d.class_names == CLASSES
    assert np.array_equal(d.x_train, again.x_train) and np.array_equal(d.y_test, again.y_test)
    train_rows = {row.tobytes() for row in d.x_train}
    assert not any(row.tobytes() in train_rows for row in d.x_test)


def test_unknown_feature_names_it_and_lists_available():
    """Reference: FEATURES_AVAILABLE - the message must name the bad feature and every valid one."""
    with pytest.raises(ValueError) as err:
        make_synthetic(10, 16, ["pt_rel", "mass"], seed=0)
    assert "'mass'" in str(err.value) and all(name in str(err.value) for name in ALL)
    with pytest.raises(ValueError, match="mass"):
        build_dataset("synthetic", None, 16, ["mass"], 10, 10, seed=0)


def test_unknown_source():
    with pytest.raises(ValueError, match="nope.*synthetic"):
        build_dataset("nope", None, 16, ["pt_rel"], 10, 10, seed=0)


# ---------------------------------------------------------------- hls4ml h5 loader

N_H5 = 5
H5_MULT = (3, 10, 150, 40, 1)  # real constituents per jet: includes a full jet (no padding) and a single-particle one
H5_LABELS = (4, 0, 2, 1, 3)
H5_PTREL = H5_PARTICLE_NAMES.index("j1_ptrel")


def _h5_content(seed=0, offset=0):
    """Hand-known content: column c of slot p in jet j holds 100*(j+offset) + p + c/32 (exact in float32).

    j1_ptrel instead gets K..1 (over sum) at randomly scattered slots, so the rank-r constituent of jet j sits in
    slot slots[j][r] - the expected order is known by construction, not by re-sorting.
    """
    rng = np.random.default_rng(seed)
    j, p, c = np.meshgrid(np.arange(N_H5), np.arange(150), np.arange(16), indexing="ij")
    cons = (100.0 * (j + offset) + p + c / 32).astype(np.float32)
    cons[:, :, H5_PTREL] = 0
    slots, ptrel = [], []
    for jet, k in enumerate(H5_MULT):
        slot = rng.permutation(150)[:k]
        value = np.arange(k, 0, -1, dtype=np.float32) / (k * (k + 1) / 2)  # decreasing by rank, sums to 1
        cons[jet, slot, H5_PTREL] = value
        slots.append(slot)
        ptrel.append(value)
    jets = np.full((N_H5, 59), 0.5, np.float32)  # non-label columns hold junk that is not one-hot
    jets[:, 53:58] = np.eye(5, dtype=np.float32)[list(H5_LABELS)]
    return cons, jets, slots, ptrel


def _write_h5(path, cons, jets, names=True, particle_names=H5_PARTICLE_NAMES):
    with h5py.File(path, "w") as f:
        f["jetConstituentList"] = cons
        f["jets"] = jets
        if names:
            jet_names = [f"j_feat{i}" for i in range(59)]
            jet_names[53:58] = ["j_g", "j_q", "j_w", "j_z", "j_t"]
            f["jetFeatureNames"] = np.array([n.encode() for n in jet_names])
            f["particleFeatureNames"] = np.array([n.encode() for n in particle_names])
    return path


def _expected(slots, ptrel, n_particles, offset=0):
    """The loader's answer built from the construction: rank r -> slot slots[j][r]; zero rows past the last one."""
    col = {name: H5_PARTICLE_NAMES.index(name) for name in H5_PARTICLE_NAMES}
    x = np.zeros((N_H5, n_particles, len(ALL)), np.float32)
    for jet, (slot, value) in enumerate(zip(slots, ptrel)):
        k = min(len(slot), n_particles)
        slot, value = slot[:k], value[:k]
        base = 100.0 * (jet + offset) + slot
        x[jet, :k, PT] = value
        x[jet, :k, ETA] = base + col["j1_etarel"] / 32
        x[jet, :k, PHI] = base + col["j1_phirel"] / 32
        x[jet, :k, DR] = base + col["j1_deltaR"] / 32
        x[jet, :k, LOGPT] = np.log(value)
    return x


def test_h5_columns_sorting_truncation_and_labels(tmp_path):
    """Reference: the hand-built file - every value is decodable to (jet, slot, column) and the pT rank is known."""
    cons, jets, slots, ptrel = _h5_content()
    path = _write_h5(tmp_path / "jets.h5", cons, jets)
    x, y = load_hls4ml_jets(path, 8, ALL)
    np.testing.assert_allclose(x, _expected(slots, ptrel, 8), rtol=1e-6)
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(y, H5_LABELS)
    assert np.all(x[0, 3:] == 0) and np.all(x[4, 1:] == 0)  # jets with 3 and 1 constituents are padded
    assert x[4, 0, LOGPT] == 0  # a lone constituent has pt_rel 1 -> log 0


def test_h5_zero_pads_beyond_150(tmp_path):
    """Reference: construction - 150 slots in the file, so rows 150..199 must be zero; the full jet fills all 150."""
    cons, jets, slots, ptrel = _h5_content()
    x, _ = load_hls4ml_jets(_write_h5(tmp_path / "jets.h5", cons, jets), 200, ALL)
    assert x.shape == (N_H5, 200, len(ALL))
    np.testing.assert_allclose(x, _expected(slots, ptrel, 200), rtol=1e-6)
    assert np.all(x[:, 150:] == 0) and np.all(x[2, :150, PT] > 0)


def test_h5_uses_name_lists_when_present(tmp_path):
    """Reference: the standard-layout file - reversing the columns (names in the b'...' text form) must not matter."""
    cons, jets, slots, ptrel = _h5_content()
    names = [f"b'{n}'" for n in H5_PARTICLE_NAMES[::-1]]
    path = _write_h5(tmp_path / "rev.h5", cons[:, :, ::-1], jets, particle_names=names)
    x, y = load_hls4ml_jets(path, 8, ["eta_rel", "log_pt_rel", "delta_r"])
    np.testing.assert_allclose(x, _expected(slots, ptrel, 8)[..., [ETA, LOGPT, DR]], rtol=1e-6)
    assert np.array_equal(y, H5_LABELS)

    # labels found by jetFeatureNames even when they are not at 53..57
    with h5py.File(path, "a") as f:
        moved = np.full((N_H5, 59), 0.5, np.float32)
        moved[:, 0:5] = np.eye(5, dtype=np.float32)[list(H5_LABELS)]
        del f["jets"], f["jetFeatureNames"]
        f["jets"] = moved
        f["jetFeatureNames"] = np.array([n.encode() for n in ["j_g", "j_q", "j_w", "j_z", "j_t"]] + [b"x"] * 54)
    assert np.array_equal(load_hls4ml_jets(path, 8, ["pt_rel"])[1], H5_LABELS)


def test_h5_without_name_lists_uses_public_layout(tmp_path):
    """Reference: the documented fixed column order (j1_ptrel=6, ...) and one-hot labels at jets[:, 53:58]."""
    cons, jets, slots, ptrel = _h5_content()
    x, y = load_hls4ml_jets(_write_h5(tmp_path / "bare.h5", cons, jets, names=False), 8, ALL)
    np.testing.assert_allclose(x, _expected(slots, ptrel, 8), rtol=1e-6)
    assert np.array_equal(y, H5_LABELS)


def test_h5_directory_list_and_max_events(tmp_path):
    """Reference: each file loaded alone; a directory is its *.h5 in sorted order, a list keeps its order."""
    cons_a, jets_a, slots_a, pt_a = _h5_content(seed=1, offset=0)
    cons_b, jets_b, slots_b, pt_b = _h5_content(seed=2, offset=10)
    a = _write_h5(tmp_path / "a.h5", cons_a, jets_a)
    b = _write_h5(tmp_path / "b.h5", cons_b, jets_b)
    (tmp_path / "notes.txt").write_text("not a jet file")
    expect_a, expect_b = _expected(slots_a, pt_a, 8), _expected(slots_b, pt_b, 8, offset=10)

    x_dir, y_dir = load_hls4ml_jets(tmp_path, 8, ALL)
    np.testing.assert_allclose(x_dir, np.concatenate([expect_a, expect_b]), rtol=1e-6)
    assert np.array_equal(y_dir, H5_LABELS * 2)
    x_list, _ = load_hls4ml_jets([str(b), a], 8, ALL)
    np.testing.assert_allclose(x_list, np.concatenate([expect_b, expect_a]), rtol=1e-6)
    x_max, y_max = load_hls4ml_jets(tmp_path, 8, ALL, max_events=7)  # spans both files
    np.testing.assert_allclose(x_max, np.concatenate([expect_a, expect_b[:2]]), rtol=1e-6)
    assert len(y_max) == 7


def test_h5_missing_dataset_key_and_missing_file(tmp_path):
    """Reference: the brief's error contract - ValueError naming key and file, FileNotFoundError naming the path."""
    cons, _, _, _ = _h5_content()
    with h5py.File(tmp_path / "nojets.h5", "w") as f:
        f["jetConstituentList"] = cons
    with pytest.raises(ValueError, match=r"'jets'.*nojets\.h5"):
        load_hls4ml_jets(tmp_path / "nojets.h5", 8, ALL)
    with pytest.raises(FileNotFoundError, match="missing\\.h5"):
        load_hls4ml_jets(tmp_path / "missing.h5", 8, ALL)
    with pytest.raises(FileNotFoundError, match="empty"):
        (tmp_path / "empty").mkdir()
        load_hls4ml_jets(tmp_path / "empty", 8, ALL)


def test_build_dataset_hls4ml_shuffles_by_seed_and_checks_size(tmp_path):
    """Reference: load_hls4ml_jets on the same file - the split is a seed-determined permutation of its jets."""
    cons, jets, _, _ = _h5_content()
    path = _write_h5(tmp_path / "jets.h5", cons, jets)
    x_all, y_all = load_hls4ml_jets(path, 8, ALL)
    d = build_dataset("hls4ml_jets", path, 8, ALL, 3, 2, seed=4)
    assert np.array_equal(d.x_train, build_dataset("hls4ml_jets", path, 8, ALL, 3, 2, seed=4).x_train)
    shuffled = [build_dataset("hls4ml_jets", path, 8, ALL, 5, 0, seed=s).y_train for s in range(4)]
    assert len({tuple(y) for y in shuffled}) > 1, "different seeds must give different orders"
    x = np.concatenate([d.x_train, d.x_test])
    y = np.concatenate([d.y_train, d.y_test])
    order = np.argsort(x[:, 0, ETA])  # slot encodings are distinct per jet, so they identify the jet
    np.testing.assert_array_equal(x[order], x_all[np.argsort(x_all[:, 0, ETA])])
    np.testing.assert_array_equal(y[order], y_all[np.argsort(x_all[:, 0, ETA])])
    with pytest.raises(ValueError, match="only 5 events available"):
        build_dataset("hls4ml_jets", path, 8, ALL, 4, 2, seed=4)
