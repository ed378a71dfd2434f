//! Networks trained elsewhere: the weights W (n x d) and V (c x n) of f(x) = V relu(W x)
//! from a safetensors file without diversenet's metadata (tensors `W`/`V`, or the names
//! PyTorch gives `nn.Sequential(Linear(d, n, bias=False), ReLU(), Linear(n, c, bias=False))`:
//! `0.weight`/`2.weight`), or from two `.npy` files. Such weights carry no training
//! configuration and no input scaling: they are used on the inputs as given.

use std::path::Path;

use crate::data::npy::read_npy;
use crate::error::{Error, Result};
use crate::linalg::{Matrix, Real};

use super::file::{model_from_file, TensorFile};
use super::network::Network;
use super::trained::TrainedModel;
use super::weights::Weights;

/// Tensor names of (W, V) that are recognised, in the order they are tried.
pub const WEIGHT_NAMES: [(&str, &str); 2] = [("W", "V"), ("0.weight", "2.weight")];

/// Weights without a training configuration, and where they came from.
#[derive(Clone, Debug)]
pub struct ForeignNetwork {
    pub net: Network<f64>,
    /// For messages: the file(s) and tensor names read.
    pub source: String,
}

/// A network loaded from a file: one written by `diversenet train` (with its
/// configuration and input scaling), or foreign weights.
#[derive(Clone, Debug)]
pub enum LoadedNetwork {
    Trained(Box<TrainedModel>),
    Foreign(ForeignNetwork),
}

impl LoadedNetwork {
    pub fn net(&self) -> &Network<f64> {
        match self {
            Self::Trained(m) => m.net(),
            Self::Foreign(f) => &f.net,
        }
    }
}

/// Loads a model written by `diversenet train`, or, when the file has no `config`
/// metadata, foreign weights (see [`foreign_from_file`]).
pub fn load_network(path: &Path) -> Result<LoadedNetwork> {
    let file = TensorFile::read(path)?;
    if file.metadata.contains_key("config") {
        Ok(LoadedNetwork::Trained(Box::new(model_from_file(
            &file, path,
        )?)))
    } else {
        Ok(LoadedNetwork::Foreign(foreign_from_file(&file, path)?))
    }
}

/// W and V from a file of another program: tensors `W`/`V` or `0.weight`/`2.weight`,
/// nothing else. A bias is refused: the theory's network has none.
pub fn foreign_from_file(file: &TensorFile, path: &Path) -> Result<ForeignNetwork> {
    let names: Vec<&str> = file.names().collect();
    if let Some(bias) = names
        .iter()
        .find(|n| n.ends_with("bias") || **n == "b" || n.starts_with("b."))
    {
        return Err(Error::format(
            path,
            format!(
                "tensor `{bias}` is a bias, but the theory's network f(x) = V relu(W x) has no \
                 biases, and dropping them would change the network; train with \
                 nn.Linear(d, n, bias=False) and nn.Linear(n, c, bias=False), and save only the \
                 weights, e.g. safetensors.torch.save_file({{\"0.weight\": model[0].weight, \
                 \"2.weight\": model[2].weight}}, PATH)"
            ),
        ));
    }
    let Some((w_name, v_name)) = WEIGHT_NAMES
        .into_iter()
        .find(|(w, v)| file.has(w) && file.has(v))
    else {
        return Err(Error::format(
            path,
            format!(
                "no diversenet metadata (`config`), and no weights under known names: expected \
                 tensors `W` and `V`, or PyTorch's `0.weight` and `2.weight` of \
                 nn.Sequential(Linear(d, n, bias=False), ReLU(), Linear(n, c, bias=False)); \
                 the file holds {}",
                if names.is_empty() {
                    "no tensors".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    };
    let extra: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| *n != w_name && *n != v_name)
        .collect();
    if !extra.is_empty() {
        return Err(Error::format(
            path,
            format!(
                "tensors {} besides `{w_name}` and `{v_name}`: expected a one-hidden-layer \
                 network f(x) = V relu(W x) and nothing else",
                extra.join(", ")
            ),
        ));
    }
    let w = file.matrix::<f64>(w_name, path)?;
    let v = file.matrix::<f64>(v_name, path)?;
    let source = format!("{} (tensors {w_name}, {v_name})", path.display());
    Ok(ForeignNetwork {
        net: Weights::new(w, v, &source)?.into_network(),
        source,
    })
}

/// W and V from two `.npy` files (W: n x d; V: c x n, or n values for c = 1).
pub fn load_npy_weights(w_path: &Path, v_path: &Path) -> Result<ForeignNetwork> {
    let matrix = |path: &Path, name: &str| -> Result<Matrix<f64>> {
        let a = read_npy(path)?;
        match a.shape[..] {
            [r, c] => Ok(Matrix::from_vec(r, c, a.data)),
            [c] if name == "V" => Ok(Matrix::from_vec(1, c, a.data)),
            _ => Err(Error::format(
                path,
                format!(
                    "{name} must have 2 dimensions ({}); found shape {:?}",
                    if name == "W" { "n x d" } else { "c x n" },
                    a.shape
                ),
            )),
        }
    };
    let source = format!("{} and {}", w_path.display(), v_path.display());
    Ok(ForeignNetwork {
        net: Weights::new(matrix(w_path, "W")?, matrix(v_path, "V")?, &source)?.into_network(),
        source,
    })
}

/// Writes W and V alone (in `T`'s precision), without a training configuration: the file
/// loads as foreign weights, and in Python's `safetensors`.
pub fn save_weights<T: Real>(path: &Path, net: &Network<T>) -> Result<()> {
    let mut file = TensorFile::default();
    file.put_matrix("W", &net.w);
    file.put_matrix("V", &net.v);
    file.write(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(names: &[&str]) -> TensorFile {
        let mut f = TensorFile::default();
        for n in names {
            let m = if n.starts_with('2') || *n == "V" {
                Matrix::from_vec(1, 2, vec![1.0f32, -1.0])
            } else {
                Matrix::from_vec(2, 3, vec![1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0])
            };
            f.put_matrix(n, &m);
        }
        f
    }

    #[test]
    fn reads_pytorch_names_and_refuses_biases_and_extra_layers() {
        let p = Path::new("torch.safetensors");
        let f = foreign_from_file(&file_with(&["0.weight", "2.weight"]), p).unwrap();
        assert_eq!((f.net.width(), f.net.dim(), f.net.outputs()), (2, 3, 1));
        assert!(f.source.contains("0.weight"));
        let e = foreign_from_file(&file_with(&["0.weight", "0.bias", "2.weight"]), p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`0.bias` is a bias") && e.contains("bias=False"),
            "{e}"
        );
        let e = foreign_from_file(&file_with(&["0.weight", "2.weight", "4.weight"]), p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("4.weight") && e.contains("one-hidden-layer"),
            "{e}"
        );
        let e = foreign_from_file(&file_with(&["layer1"]), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0.weight") && e.contains("holds layer1"), "{e}");
    }
}
