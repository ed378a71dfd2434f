//! ReLU MLPs from files: safetensors with PyTorch's `nn.Sequential` names, diversenet's
//! own model files (and the foreign `W`/`V` files its analysis reads), and `.npz` archives
//! of `W1, b1, W2, ...`. Every loader ends in [`Mlp::new`], which checks the network.

use std::path::Path;

use crate::data::npy::encode_npy_f64;
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::model::file::{model_from_file, TensorFile};
use crate::model::foreign::{foreign_from_file, LoadedNetwork};
use crate::model::Weights;

use super::npz::{is_zip, read_npz, zip_archive};
use super::sequential::{from_state_dict, NamedTensor};
use super::{Dense, Mlp};

/// What a model file holds.
#[derive(Clone, Debug)]
pub enum MlpFile {
    /// The paper's network as the one-hidden-layer loader reads it: a model written by
    /// `diversenet train` (with its configuration and input scaling), or foreign weights
    /// `W`/`V` or a bias-free `0.weight`/`2.weight`.
    Network(LoadedNetwork),
    /// Any other ReLU MLP (nn.Sequential names, `.npz`), used on the inputs as given.
    Mlp(Mlp),
}

impl MlpFile {
    /// The network as an MLP; the paper's network checked as [`Weights`] (`source` names
    /// it in errors), as [`Mlp::new`] checks the others.
    pub fn into_mlp(self, source: &str) -> Result<Mlp> {
        match self {
            Self::Network(loaded) => Ok(Mlp::from_weights(&Weights::of(
                loaded.net().clone(),
                source,
            )?)),
            Self::Mlp(mlp) => Ok(mlp),
        }
    }
}

/// Loads a ReLU MLP: a `.npz` archive (by its zip signature, whatever the suffix), else a
/// safetensors file: diversenet's model file, `W`/`V` weights, or an `nn.Sequential`'s
/// state dict. Errors name the file and the tensor.
pub fn load_mlp(path: &Path) -> Result<MlpFile> {
    let bytes = crate::files::read(path)?;
    if is_zip(&bytes) {
        return Ok(MlpFile::Mlp(mlp_from_npz(&bytes, path)?));
    }
    let file = TensorFile::decode(&bytes, path)?;
    if file.metadata.contains_key("config") {
        return Ok(MlpFile::Network(LoadedNetwork::Trained(Box::new(
            model_from_file(&file, path)?,
        ))));
    }
    let paper = foreign_from_file(&file, path);
    if paper.is_ok() || file.has("W") || file.has("V") {
        return Ok(MlpFile::Network(LoadedNetwork::Foreign(paper?)));
    }
    Ok(MlpFile::Mlp(sequential_from_file(&file, path)?))
}

/// The network of a safetensors file that holds an `nn.Sequential`'s state dict.
pub fn sequential_from_file(file: &TensorFile, path: &Path) -> Result<Mlp> {
    let mut tensors = Vec::new();
    for (name, (_, shape, _)) in &file.tensors {
        let shape = shape.clone();
        // Only 1-D and 2-D tensors can be a Linear's: the values of others (a convolution's
        // kernel, BatchNorm's scalar counter) are never used, as the network is refused.
        let data = if matches!(shape.len(), 1 | 2) {
            file.matrix::<f64>(name, path)?.into_vec()
        } else {
            Vec::new()
        };
        tensors.push(NamedTensor {
            name: name.to_string(),
            shape,
            data,
        });
    }
    from_state_dict(tensors, None, &path.display().to_string())
}

/// The network of a `.npz` archive of `W1, b1, W2, b2, ...` (W_l: n_l x n_{l-1}, b_l: n_l
/// values; any b_l may be absent); any other entry is refused.
pub fn mlp_from_npz(bytes: &[u8], path: &Path) -> Result<Mlp> {
    let expected = "expected entries W1, b1, W2, b2, ... (numpy.savez(PATH, W1=..., b1=..., \
                    W2=...); W_l is n_l x n_{l-1}, outputs x inputs as in PyTorch, and any b_l \
                    may be left out)";
    let mut arrays = read_npz(bytes, path)?;
    let layer_of = |key: &str, prefix: char| -> Option<usize> {
        key.strip_prefix(prefix)?
            .parse::<usize>()
            .ok()
            .filter(|&l| l >= 1)
    };
    if let Some((key, _)) = arrays
        .iter()
        .find(|(k, _)| layer_of(k, 'W').or_else(|| layer_of(k, 'b')).is_none())
    {
        return Err(Error::format(path, format!("entry `{key}`: {expected}")));
    }
    let depth = arrays
        .iter()
        .filter_map(|(k, _)| layer_of(k, 'W'))
        .max()
        .unwrap_or(0);
    let mut layers = Vec::with_capacity(depth);
    for l in 1..=depth {
        let mut take = |key: String| {
            arrays
                .iter()
                .position(|(k, _)| *k == key)
                .map(|i| arrays.swap_remove(i).1)
        };
        let Some(w) = take(format!("W{l}")) else {
            return Err(Error::format(
                path,
                format!("entry `W{l}` is missing (the archive has W{depth}); {expected}"),
            ));
        };
        let weight = match w.shape[..] {
            [n, d] => Matrix::from_vec(n, d, w.data),
            _ => {
                return Err(Error::format(
                    path,
                    format!(
                        "entry `W{l}` has shape {:?}; expected 2 dimensions (n_l x n_{{l-1}})",
                        w.shape
                    ),
                ))
            }
        };
        let bias = match take(format!("b{l}")) {
            None => None,
            Some(b) if b.shape.len() == 1 => Some(b.data),
            Some(b) => {
                return Err(Error::format(
                    path,
                    format!(
                        "entry `b{l}` has shape {:?}; expected 1 dimension (n_l values)",
                        b.shape
                    ),
                ))
            }
        };
        layers.push(Dense::new(weight, bias, format!("W{l}"), format!("b{l}")));
    }
    if let Some((key, _)) = arrays.first() {
        return Err(Error::format(
            path,
            format!("entry `{key}` has no W of the same layer; {expected}"),
        ));
    }
    Mlp::new(layers, path.display().to_string())
}

/// Writes `mlp` as a safetensors file with `nn.Sequential` names (`0.weight`, `0.bias`,
/// `2.weight`, ...; f64), which `torch.nn.Sequential.load_state_dict` reads after
/// `safetensors.torch.load_file` (cast to the module's dtype).
pub fn save_sequential(path: &Path, mlp: &Mlp) -> Result<()> {
    let mut file = TensorFile::default();
    for (l, layer) in mlp.layers().iter().enumerate() {
        file.put_matrix(&format!("{}.weight", 2 * l), &layer.weight);
        if let Some(b) = &layer.bias {
            file.put_vector(&format!("{}.bias", 2 * l), b);
        }
    }
    file.write(path)
}

/// Writes `mlp` as a `.npz` of `W1, b1, W2, ...` (float64; the biases it has), deflated
/// when `compressed` (as `numpy.savez_compressed`), stored otherwise (as `numpy.savez`).
pub fn save_npz(path: &Path, mlp: &Mlp, compressed: bool) -> Result<()> {
    let mut entries = Vec::new();
    for (l, layer) in mlp.layers().iter().enumerate() {
        let w = &layer.weight;
        let npy = encode_npy_f64(&[w.rows(), w.cols()], w.as_slice());
        entries.push((format!("W{}.npy", l + 1), npy));
        if let Some(b) = &layer.bias {
            entries.push((format!("b{}.npy", l + 1), encode_npy_f64(&[b.len()], b)));
        }
    }
    crate::files::write_atomic(path, &zip_archive(&entries, compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npz(entries: &[(&str, &[usize])]) -> Vec<u8> {
        let files: Vec<(String, Vec<u8>)> = entries
            .iter()
            .map(|(name, shape)| {
                let values: Vec<f64> = (0..shape.iter().product::<usize>())
                    .map(|v| (v as f64 * 0.7).cos())
                    .collect();
                (format!("{name}.npy"), encode_npy_f64(shape, &values))
            })
            .collect();
        zip_archive(&files, true)
    }

    #[test]
    fn npz_layers_are_read_and_other_entries_refused() {
        let p = Path::new("m.npz");
        let net = mlp_from_npz(
            &npz(&[
                ("W1", &[4, 3]),
                ("b1", &[4]),
                ("W2", &[5, 4]),
                ("W3", &[2, 5]),
                ("b3", &[2]),
            ]),
            p,
        )
        .unwrap();
        assert_eq!(net.widths(), vec![3, 4, 5, 2]);
        assert_eq!(net.layers()[2].names, ["W3".to_string(), "b3".to_string()]);
        for (entries, expected) in [
            (
                vec![("W1", &[4usize, 3][..]), ("arr_0", &[2][..])],
                "entry `arr_0`: expected entries W1, b1",
            ),
            (
                vec![("W1", &[4, 3][..]), ("W3", &[1, 4][..])],
                "entry `W2` is missing",
            ),
            (
                vec![("W1", &[4, 3][..]), ("b2", &[4][..])],
                "entry `b2` has no W",
            ),
            (
                vec![("W1", &[4, 3][..]), ("W2", &[1, 5][..])],
                "`W2` is 1x5",
            ),
            (
                vec![("W1", &[4, 3, 2][..])],
                "entry `W1` has shape [4, 3, 2]",
            ),
        ] {
            let e = mlp_from_npz(&npz(&entries), p).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn a_sequential_file_round_trips_and_the_paper_network_keeps_its_loader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mlp.safetensors");
        let layers = vec![
            Dense::new(
                Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]),
                Some(vec![0.5, -0.5]),
                "a",
                "b",
            ),
            Dense::new(Matrix::from_vec(1, 2, vec![1.0, -1.0]), None, "c", "d"),
        ];
        let mlp = Mlp::new(layers, "test").unwrap();
        save_sequential(&path, &mlp).unwrap();
        let MlpFile::Mlp(back) = load_mlp(&path).unwrap() else {
            panic!("a network with biases is an MLP");
        };
        assert_eq!(back.layers()[0].weight, mlp.layers()[0].weight);
        assert_eq!(back.layers()[0].bias, mlp.layers()[0].bias);
        assert_eq!(back.layers()[1].names[0], "2.weight");
        for compressed in [false, true] {
            let npz = dir.path().join("mlp.npz");
            save_npz(&npz, &mlp, compressed).unwrap();
            let MlpFile::Mlp(back) = load_mlp(&npz).unwrap() else {
                panic!("a .npz is an MLP");
            };
            assert_eq!(back.layers()[0].bias, mlp.layers()[0].bias);
            assert_eq!(back.layers()[1].weight, mlp.layers()[1].weight);
        }
        // Bias-free, one hidden layer: the paper network's loader, as before.
        let paper = Mlp::new(
            vec![
                Dense::new(
                    Matrix::from_vec(2, 2, vec![1.0, 2.0, 3.0, 4.0]),
                    None,
                    "a",
                    "b",
                ),
                Dense::new(Matrix::from_vec(1, 2, vec![1.0, -1.0]), None, "c", "d"),
            ],
            "test",
        )
        .unwrap();
        save_sequential(&path, &paper).unwrap();
        assert!(matches!(
            load_mlp(&path).unwrap(),
            MlpFile::Network(LoadedNetwork::Foreign(_))
        ));
    }
}
