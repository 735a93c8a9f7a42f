"""Jet datasets for the tagger: a physics-motivated synthetic generator and the hls4ml LHC jet loader.

Both sources produce the same layout: x float32 [n_jets, n_particles, n_features], constituents sorted by
pT descending and zero-padded, and y int64 class indices into CLASSES.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
from tqdm import tqdm

FEATURES_AVAILABLE = ("pt_rel", "eta_rel", "phi_rel", "delta_r", "log_pt_rel")
CLASSES = ("g", "q", "W", "Z", "t")
SOURCES = ("synthetic", "hls4ml_jets")
LOG_PT_FLOOR = -10.0

# --- synthetic jet model (GeV, radians); only relative features leave the generator ---
JET_R = 0.8
JET_PT = 1000.0
JET_PT_SPREAD = 0.06  # relative sigma: feeds into m/pT, so it smears the W/Z mass scales into each other
M_W, GAMMA_W = 80.4, 2.1
M_Z, GAMMA_Z = 91.2, 2.5
M_T, GAMMA_T = 173.0, 1.4
MASS_WINDOW = 15.0  # Breit-Wigner truncated to +-15 GeV so no resonance runs away
C_F, C_A = 4.0 / 3.0, 3.0
QCD_SPLIT_PROB = 0.15  # chance of a hard perturbative splitting for a quark; scaled by C/C_F for gluons
QCD_Z_CUT, QCD_THETA_MIN = 0.1, 0.1
N_HAD = 8.0  # colour-blind hadronisation multiplicity per prong
N_PERT = 1.5  # perturbative emissions per unit log(pT), scaled by C/C_F
PT_REF = 10.0  # GeV; log1p(pT / PT_REF) stands in for the shower's evolution length
MULT_SHAPE = 6.0  # gamma shape of the per-prong multiplicity fluctuation (KNO-like overdispersion)
SPLIT_BETA = 9.0  # each splitting hands on a fraction v ~ Beta(1, 9) of the leading parton (mean 0.1)
KT0 = 0.7  # mean kT of an emission for a quark; gluons get sqrt(C_A/C_F) more
N_SOFT, SOFT_PT = 4.0, 1.0  # soft wide-angle / pileup-like particles: mean count and mean pT
PT_RESOLUTION = 0.05  # per-constituent detector pT smearing
MAX_PRONGS, MAX_SHOWER, MAX_SOFT = 3, 64, 24
CHUNK = 4096

# --- hls4ml LHC jet dataset (Zenodo, 150 particles) ---
H5_PARTICLE_NAMES = (
    "j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta", "j1_etarel",
    "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR", "j1_costheta", "j1_costhetarel",
)
H5_LABEL_NAMES = ("j_g", "j_q", "j_w", "j_z", "j_t")
H5_LABEL_COLUMNS = (53, 54, 55, 56, 57)  # fallback when a file has no jetFeatureNames
H5_FEATURE_COLUMN = {
    "pt_rel": "j1_ptrel", "eta_rel": "j1_etarel", "phi_rel": "j1_phirel",
    "delta_r": "j1_deltaR", "log_pt_rel": "j1_ptrel",
}


@dataclass
class Dataset:
    x_train: np.ndarray  # float32 [n_train, n_particles, n_features]
    y_train: np.ndarray  # int64 class index [n_train]
    x_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]


def _check_features(features: Sequence[str]) -> tuple[str, ...]:
    features = tuple(features)
    for name in features:
        if name not in FEATURES_AVAILABLE:
            raise ValueError(f"unknown feature {name!r}; available: {', '.join(FEATURES_AVAILABLE)}")
    return features


def _log_pt_rel(pt_rel: np.ndarray) -> np.ndarray:
    """log(pt_rel) floored at LOG_PT_FLOOR, and 0 for padding (pt_rel == 0)."""
    safe = np.where(pt_rel > 0, pt_rel, 1.0)
    return np.where(pt_rel > 0, np.maximum(np.log(safe), LOG_PT_FLOOR), 0.0)


def _feature_array(cols: dict[str, np.ndarray], features: tuple[str, ...], n_particles: int) -> np.ndarray:
    """Stack per-particle columns [n, m] (already sorted) into [n, n_particles, n_features], padding with zeros."""
    n, m = cols["pt_rel"].shape
    x = np.zeros((n, n_particles, len(features)), np.float32)
    keep = min(m, n_particles)
    real = cols["pt_rel"][:, :keep] > 0  # padding rows stay exactly zero whatever the source put there
    for i, name in enumerate(features):
        value = _log_pt_rel(cols["pt_rel"]) if name == "log_pt_rel" else cols[name]
        x[:, :keep, i] = np.where(real, value[:, :keep], 0.0)
    return x


# ---------------------------------------------------------------- synthetic jets


def _breit_wigner(rng: np.random.Generator, mass: float, width: float, n: int) -> np.ndarray:
    """Truncated Breit-Wigner by inverse CDF (bounded angle keeps |m - mass| <= MASS_WINDOW)."""
    edge = np.arctan(2 * MASS_WINDOW / width)
    return mass + 0.5 * width * np.tan(rng.uniform(-edge, edge, n))


def _split(rng, z, eta, phi, rows, parent, child, z_child, theta):
    """Split prong `parent` of jets `rows` into itself and `child`, keeping the pT-weighted centre fixed."""
    azimuth = rng.uniform(0, 2 * np.pi, len(rows))
    d_eta, d_phi = theta * np.cos(azimuth), theta * np.sin(azimuth)
    z_parent = z[rows, parent]
    eta[rows, child] = eta[rows, parent] + (1 - z_child) * d_eta
    phi[rows, child] = phi[rows, parent] + (1 - z_child) * d_phi
    eta[rows, parent] -= z_child * d_eta
    phi[rows, parent] -= z_child * d_phi
    z[rows, child] = z_child * z_parent
    z[rows, parent] = (1 - z_child) * z_parent


def _hard_prongs(rng: np.random.Generator, y: np.ndarray):
    """Hard partons per jet: pT [B, 3] (0 = absent), eta, phi offsets from the jet axis, colour factor."""
    n = len(y)
    jet_pt = JET_PT * np.clip(1 + JET_PT_SPREAD * rng.standard_normal(n), 0.5, 1.5)
    z = np.zeros((n, MAX_PRONGS))
    z[:, 0] = 1.0
    eta, phi = np.zeros_like(z), np.zeros_like(z)
    casimir = np.full_like(z, C_F)
    casimir[y == 0] = C_A  # a gluon jet and its splitting products radiate with C_A

    # QCD: occasional hard 1 -> 2 splitting, dz/z on [z_cut, 1/2] and dtheta/theta on [theta_min, R]
    p_split = QCD_SPLIT_PROB * casimir[:, 0] / C_F
    rows = np.flatnonzero((y <= 1) & (rng.random(n) < p_split))
    z_soft = QCD_Z_CUT * (0.5 / QCD_Z_CUT) ** rng.random(len(rows))
    theta = QCD_THETA_MIN * (JET_R / QCD_THETA_MIN) ** rng.random(len(rows))
    _split(rng, z, eta, phi, rows, 0, 1, z_soft, theta)

    # W, Z -> q q: isotropic decay gives z ~ U(0, 1) (ends trimmed, the angle diverges there);
    # massless daughters: m^2 = z (1 - z) pT^2 theta^2. Very asymmetric decays lose a prong out of the cone.
    for label, mass, width in ((2, M_W, GAMMA_W), (3, M_Z, GAMMA_Z)):
        rows = np.flatnonzero(y == label)
        m = _breit_wigner(rng, mass, width, len(rows))
        zq = rng.uniform(0.01, 0.99, len(rows))
        _split(rng, z, eta, phi, rows, 0, 1, zq, m / (jet_pt[rows] * np.sqrt(zq * (1 - zq))))

    # t -> b W (W massive: m_t^2 = m_W^2 / (1 - z_b) + z_b (1 - z_b) pT^2 theta^2), then W -> q q
    rows = np.flatnonzero(y == 4)
    m_t = _breit_wigner(rng, M_T, GAMMA_T, len(rows))
    m_w = _breit_wigner(rng, M_W, GAMMA_W, len(rows))
    z_b = rng.uniform(0.01, 0.99, len(rows)) * (1 - m_w**2 / m_t**2)  # isotropic decay, massless b
    theta2 = (m_t**2 - m_w**2 / (1 - z_b)) / (z_b * (1 - z_b) * jet_pt[rows] ** 2)
    _split(rng, z, eta, phi, rows, 0, 2, z_b, np.sqrt(np.maximum(theta2, 0)))
    zq = rng.uniform(0.01, 0.99, len(rows))
    w_pt = (1 - z_b) * jet_pt[rows]
    _split(rng, z, eta, phi, rows, 0, 1, zq, m_w / (w_pt * np.sqrt(zq * (1 - zq))))

    return z * jet_pt[:, None], eta, phi, casimir


def _shower(rng: np.random.Generator, pt, eta, phi, casimir):
    """Shower each prong [B, P] into MAX_SHOWER constituent slots; returns pt, eta, phi [B, P * MAX_SHOWER]."""
    colour = casimir / C_F
    # multiplicity: colour-blind hadronisation plus Casimir-scaled emissions, with a gamma-mixed Poisson spread
    mean = N_HAD + colour * N_PERT * np.log1p(pt / PT_REF)
    mean = mean * rng.gamma(MULT_SHAPE, 1 / MULT_SHAPE, pt.shape)
    mult = np.where(pt > 0, np.minimum(1 + rng.poisson(mean), MAX_SHOWER), 0)[..., None]

    # sequential collinear splittings: each step the leading parton emits a fraction v of what it still
    # carries; slot mult-1 keeps the remainder (v = 1), so fractions sum to exactly 1 and fall off with k
    k = np.arange(MAX_SHOWER)
    v = 1 - rng.random(pt.shape + (MAX_SHOWER,)) ** (1 / SPLIT_BETA)  # Beta(1, SPLIT_BETA) by inverse CDF
    v = np.where(k >= mult - 1, 1.0, v)
    carried = np.cumprod(1 - v, axis=-1)
    before = np.concatenate([np.ones_like(carried[..., :1]), carried[..., :-1]], axis=-1)
    c_pt = np.where(k < mult, v * before, 0.0) * pt[..., None]

    # emission angle from its transverse momentum, theta = kT / pT: softer constituents sit wider
    kt = KT0 * np.sqrt(colour)[..., None] * rng.exponential(1.0, c_pt.shape)
    theta = kt / np.maximum(c_pt, 1e-9)
    azimuth = rng.uniform(0, 2 * np.pi, c_pt.shape)
    c_eta = eta[..., None] + theta * np.cos(azimuth)
    c_phi = phi[..., None] + theta * np.sin(azimuth)
    n = len(pt)
    return c_pt.reshape(n, -1), c_eta.reshape(n, -1), c_phi.reshape(n, -1)


def _soft(rng: np.random.Generator, n: int):
    """Soft wide-angle / pileup-like particles, uniform in area over the jet cone."""
    count = np.minimum(rng.poisson(N_SOFT, n), MAX_SOFT)[:, None]
    pt = np.where(np.arange(MAX_SOFT) < count, rng.exponential(SOFT_PT, (n, MAX_SOFT)), 0.0)
    r = JET_R * np.sqrt(rng.random((n, MAX_SOFT)))
    azimuth = rng.uniform(0, 2 * np.pi, (n, MAX_SOFT))
    return pt, r * np.cos(azimuth), r * np.sin(azimuth)


def _synthetic_chunk(rng: np.random.Generator, y: np.ndarray, n_particles: int, features: tuple[str, ...]):
    prong_pt, prong_eta, prong_phi, casimir = _hard_prongs(rng, y)
    shower = _shower(rng, prong_pt, prong_eta, prong_phi, casimir)
    pt, eta, phi = (np.concatenate(parts, axis=1) for parts in zip(shower, _soft(rng, len(y))))
    pt = pt * np.maximum(1 + PT_RESOLUTION * rng.standard_normal(pt.shape), 0)

    pt = np.where(np.hypot(eta, phi) < JET_R, pt, 0.0)  # out-of-cone radiation is lost
    jet_pt = pt.sum(axis=1, keepdims=True)  # all constituents, before truncation
    eta = eta - (pt * eta).sum(axis=1, keepdims=True) / jet_pt  # recentre on the pT-weighted axis
    phi = phi - (pt * phi).sum(axis=1, keepdims=True) / jet_pt

    order = np.argsort(-pt, axis=1, kind="stable")[:, :n_particles]
    cols = {"pt_rel": np.take_along_axis(pt / jet_pt, order, axis=1)}
    cols["eta_rel"] = np.take_along_axis(eta, order, axis=1)
    cols["phi_rel"] = np.take_along_axis(phi, order, axis=1)
    cols["delta_r"] = np.hypot(cols["eta_rel"], cols["phi_rel"])
    return _feature_array(cols, features, n_particles)


def make_synthetic(
    n_events: int, n_particles: int, features: Sequence[str], seed: int, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Generate balanced synthetic g/q/W/Z/t jets; the same seed gives identical arrays (progress or not)."""
    features = _check_features(features)
    label_seed, *chunk_seeds = np.random.SeedSequence(seed).spawn(1 + -(-n_events // CHUNK))
    y = np.random.default_rng(label_seed).permutation(np.arange(n_events) % len(CLASSES)).astype(np.int64)
    x = np.zeros((n_events, n_particles, len(features)), np.float32)
    with tqdm(total=n_events, desc="synthetic jets", unit="jet", disable=not progress) as bar:
        for i, chunk_seed in enumerate(chunk_seeds):
            rows = slice(i * CHUNK, min((i + 1) * CHUNK, n_events))
            x[rows] = _synthetic_chunk(np.random.default_rng(chunk_seed), y[rows], n_particles, features)
            bar.update(rows.stop - rows.start)
    return x, y


# ---------------------------------------------------------------- hls4ml LHC jet dataset


class DataError(ValueError):
    """A jet file that cannot be used; the message names the file."""


def _h5_files(paths: str | Path | Sequence) -> list[Path]:
    """One file, a directory (its *.h5, sorted) or a list of either; each file once."""
    files = []
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not given:
        raise FileNotFoundError("empty list of hls4ml jet files")
    for path in map(Path, given):
        if path.is_dir():
            found = sorted(path.glob("*.h5"))
            if not found:
                raise FileNotFoundError(f"no *.h5 files in directory {path}")
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"hls4ml jet file not found: {path}")
    seen: dict[Path, Path] = {}
    for f in files:
        if not f.is_file():  # a device, a FIFO (would block) or a directory named *.h5
            raise DataError(f"{f}: not a regular file")
        if f.resolve() in seen:
            raise DataError(f"{f}: the same file is given twice (also as {seen[f.resolve()]})")
        seen[f.resolve()] = f
    return files


def _clean_name(raw) -> str:
    """Names are stored as bytes, sometimes as the text of a bytes literal ("b'j1_px'")."""
    name = (raw.decode() if isinstance(raw, bytes) else str(raw)).strip()
    if name[:2] in ("b'", 'b"'):
        name = name[2:]
    return name.strip("'\" ")


def _columns(f: h5py.File, names_key: str, wanted: Sequence[str], fallback: Sequence[int], path: Path) -> list[int]:
    """Column index of each wanted name, from the file's name list if it has one, else the public layout."""
    if names_key not in f:
        return list(fallback)
    if not isinstance(f[names_key], h5py.Dataset) or f[names_key].ndim != 1:
        raise DataError(f"{path}: {names_key} is not a list of names")
    names = [_clean_name(raw) for raw in f[names_key][()]]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise DataError(f"{path}: {names_key} has no {', '.join(missing)}")
    return [names.index(name) for name in wanted]


def _h5_columns(features: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """The features read from the file (ptrel always, for sorting) and their h5 column names."""
    wanted = {"pt_rel", *features} - {"log_pt_rel"}  # log_pt_rel is computed from pt_rel
    return wanted, sorted({H5_FEATURE_COLUMN[name] for name in wanted})


def _layout(f: h5py.File, path: Path, columns: Sequence[str]) -> tuple[list[int], list[int]]:
    """Check the datasets load_hls4ml_jets reads; return the column index of each of `columns` and of the labels."""
    for key in ("jetConstituentList", "jets"):
        if not isinstance(f.get(key), h5py.Dataset):
            raise DataError(f"dataset {key!r} missing in {path} (expected jetConstituentList [events, particles, 16] "
                            "and jets [events, 59] as in the hls4ml LHC jet files)")
    cons, jets = f["jetConstituentList"], f["jets"]
    for key, ds, ndim, what in (("jetConstituentList", cons, 3, "[events, particles, features]"),
                                ("jets", jets, 2, "[events, features]")):
        if ds.ndim != ndim or ds.dtype.kind not in "fiu":
            raise DataError(f"{path}: {key} is {ds.dtype} {list(ds.shape)}; expected numbers {what}")
    if len(jets) != len(cons):
        raise DataError(f"{path}: jets has {len(jets)} events but jetConstituentList has {len(cons)}")
    index = _columns(f, "particleFeatureNames", columns, [H5_PARTICLE_NAMES.index(c) for c in columns], path)
    labels = _columns(f, "jetFeatureNames", H5_LABEL_NAMES, H5_LABEL_COLUMNS, path)
    for key, ds, idx, names in (("jetConstituentList", cons, index, columns), ("jets", jets, labels, H5_LABEL_NAMES)):
        if max(idx) >= ds.shape[-1]:
            name = names[idx.index(max(idx))]
            raise DataError(f"{path}: {key} has {ds.shape[-1]} features, too few for {name} (column {max(idx)})")
    return index, labels


def _one_hot_rows(onehot: np.ndarray) -> np.ndarray:
    return np.all((onehot == 0) | (onehot == 1), axis=1) & (onehot.sum(axis=1) == 1)


def check_hls4ml_jets(paths: str | Path | Sequence, features: Sequence[str], n_events: int) -> None:
    """Check, before any training, what load_hls4ml_jets(paths, n_particles, features, max_events=n_events) relies on: every file is
    HDF5 with jetConstituentList [N, P, C] and jets [N, K] (numeric, same N) holding the needed columns; and, for the
    events it will read, labels one-hot, pt_rel finite and the other used features finite on real particles
    (pt_rel > 0; padding is zeroed anyway); and enough events. Raises DataError or FileNotFoundError naming the file.

    Cost: the used columns of the first n_events events are read once more, in chunks (a fraction of the loading).
    """
    features = _check_features(features)
    _, columns = _h5_columns(features)
    total = 0
    for path in _h5_files(paths):
        try:
            with h5py.File(path, "r") as f:
                index, labels = _layout(f, path, columns)
                cons, jets = f["jetConstituentList"], f["jets"]
                used = min(len(cons), max(n_events - total, 0))
                for start in range(0, used, CHUNK):
                    rows = slice(start, min(start + CHUNK, used))
                    onehot = jets[rows][:, labels]
                    bad = np.flatnonzero(~_one_hot_rows(onehot))
                    if len(bad):
                        raise DataError(f"{path}: event {start + bad[0]}: labels {', '.join(H5_LABEL_NAMES)} = "
                                        f"{onehot[bad[0]].tolist()} are not one-hot")
                    # the loader zeroes padding (pt_rel <= 0) whatever its other features hold; NaN is not padding
                    real = ~(cons[rows, :, index[columns.index("j1_ptrel")]] <= 0)
                    for column, i in zip(columns, index):
                        values = cons[rows, :, i]
                        bad = np.argwhere(~np.isfinite(values) & (real | (column == "j1_ptrel")))
                        if len(bad):
                            event, particle = bad[0]
                            raise DataError(f"{path}: event {start + event}, particle {particle}: {column} is not a "
                                            f"finite number ({values[event, particle]})")
                total += len(cons)
        except (DataError, FileNotFoundError):
            raise
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:  # h5py: not HDF5, truncated, unreadable
            raise DataError(f"{path}: cannot be read as an HDF5 file ({e})") from None
    if total < n_events:
        where = ", ".join(map(str, [paths] if isinstance(paths, (str, Path)) else paths))
        raise DataError(f"only {total} events in {where}; need n_train + n_test = {n_events}")


def load_hls4ml_jets(
    paths: str | Path | Sequence, n_particles: int, features: Sequence[str], max_events: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load hls4ml LHC jet h5 files into (x float32 [n, n_particles, n_features], y int64), pT-sorted."""
    features = _check_features(features)
    # the h5 columns we read: ptrel always (for sorting), plus one per requested feature
    wanted, columns = _h5_columns(features)
    xs, ys, total = [], [], 0
    for path in _h5_files(paths):
        if max_events is not None and total >= max_events:
            break
        with h5py.File(path, "r") as f:
            index, labels = _layout(f, path, columns)
            constituents = f["jetConstituentList"]
            n = len(constituents) if max_events is None else min(len(constituents), max_events - total)
            raw = {column: constituents[:n, :, i].astype(np.float32) for column, i in zip(columns, index)}
            onehot = f["jets"][:n][:, labels]

        if not np.all(_one_hot_rows(onehot)):
            raise DataError(f"{path}: labels {', '.join(H5_LABEL_NAMES)} are not one-hot")
        order = np.argsort(-raw["j1_ptrel"], axis=1, kind="stable")[:, :n_particles]
        cols = {name: np.take_along_axis(raw[H5_FEATURE_COLUMN[name]], order, axis=1) for name in wanted}
        xs.append(_feature_array(cols, features, n_particles))
        ys.append(np.argmax(onehot, axis=1).astype(np.int64))
        total += n
    if not xs:  # max_events == 0
        return np.zeros((0, n_particles, len(features)), np.float32), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------- train/test split


def build_dataset(source: str, path, n_particles, features, n_train, n_test, seed, progress=False) -> Dataset:
    """Train/test split from `source`; `progress` shows the synthetic generation bar."""
    features = _check_features(features)
    if source == "synthetic":
        # independent child streams so train and test are disjoint draws
        train_seed, test_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(2))
        x_train, y_train = make_synthetic(n_train, n_particles, features, train_seed, progress)
        x_test, y_test = make_synthetic(n_test, n_particles, features, test_seed, progress)
    elif source == "hls4ml_jets":
        # the public files mix all classes, so the first n_train + n_test jets suffice; no need to read GBs
        need = n_train + n_test
        x, y = load_hls4ml_jets(path, n_particles, features, max_events=need)
        if len(y) < need:
            raise ValueError(f"hls4ml_jets at {path}: only {len(y)} events available, need n_train + n_test = {need}")
        perm = np.random.default_rng(seed).permutation(len(y))
        x_train, y_train = x[perm[:n_train]], y[perm[:n_train]]
        x_test, y_test = x[perm[n_train:]], y[perm[n_train:]]
    else:
        raise ValueError(f"unknown data source {source!r}; available: {', '.join(SOURCES)}")
    return Dataset(x_train, y_train, x_test, y_test, features, CLASSES)
