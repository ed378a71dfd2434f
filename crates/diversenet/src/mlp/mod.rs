//! ReLU multi-layer perceptrons as researchers train them (PyTorch's `nn.Sequential` of
//! `Linear` and `ReLU`): any depth, a bias per layer or none, c outputs,
//!
//! ```text
//! h_0 = x,  z_l = W_l h_{l-1} + b_l,  h_l = relu(z_l)  (l = 1..L),
//! f(x) = W_{L+1} h_L + b_{L+1}  in R^c,
//! ```
//!
//! with W_l of shape n_l x n_{l-1} (PyTorch's `Linear.weight`: outputs x inputs). The one
//! constructor, [`Mlp::new`], checks that the shapes chain and the values are finite; the
//! loaders ([`load`]) read safetensors files with `nn.Sequential` names, diversenet's own
//! model files and `.npz` archives of `W1, b1, W2, ...`. The paper's network
//! f(x) = V relu(W x) is the bias-free case with one hidden layer ([`Mlp::from_weights`],
//! [`Mlp::as_paper_network`]). The empirical NTK of these networks, layer by layer, is
//! `theory::ntk`.

pub mod load;
mod npz;
pub mod sequential;

use crate::error::{Error, Result};
use crate::linalg::{gemm, Matrix, Op};
use crate::model::{Network, OutputLayer, Weights};

/// One affine layer z = W h + b, with the names of the tensors it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// W_l, n_l x n_{l-1} (outputs x inputs, as PyTorch's `Linear.weight`).
    pub weight: Matrix<f64>,
    /// b_l (n_l values), if the layer has a bias.
    pub bias: Option<Vec<f64>>,
    /// Names of the weight and bias tensors as the source calls them (`0.weight`,
    /// `0.bias`; `W1`, `b1`; `layers[0][0]`, `layers[0][1]`), for messages.
    pub names: [String; 2],
}

impl Dense {
    /// A layer whose tensors are called `weight_name` and `bias_name` in messages.
    pub fn new(
        weight: Matrix<f64>,
        bias: Option<Vec<f64>>,
        weight_name: impl Into<String>,
        bias_name: impl Into<String>,
    ) -> Self {
        Self {
            weight,
            bias,
            names: [weight_name.into(), bias_name.into()],
        }
    }
    /// Units n_l (rows of W_l).
    pub fn width(&self) -> usize {
        self.weight.rows()
    }
    /// Inputs n_{l-1} (columns of W_l).
    pub fn inputs(&self) -> usize {
        self.weight.cols()
    }
    /// Parameters: n_l n_{l-1}, plus n_l with a bias.
    pub fn parameters(&self) -> usize {
        self.width() * (self.inputs() + usize::from(self.bias.is_some()))
    }
    /// Rows [w_k; b_k] (n_l x (n_{l-1} + 1)), or W_l itself without a bias.
    pub fn augmented_weight(&self) -> Matrix<f64> {
        let Some(b) = &self.bias else {
            return self.weight.clone();
        };
        let (n, d) = (self.width(), self.inputs());
        let mut out = Matrix::zeros(n, d + 1);
        for (k, bk) in b.iter().enumerate() {
            out.row_mut(k)[..d].copy_from_slice(self.weight.row(k));
            out.row_mut(k)[d] = *bk;
        }
        out
    }
}

/// A validated ReLU MLP: at least one layer (the last is the output layer), shapes that
/// chain, finite weights and biases.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    layers: Vec<Dense>,
    source: String,
}

/// What a forward pass keeps: the input h_{l-1} of every layer (m x n_{l-1}; h_0 = X) and
/// the outputs f(X) (m x c).
#[derive(Clone, Debug)]
pub struct Activations {
    pub inputs: Vec<Matrix<f64>>,
    pub output: Matrix<f64>,
}

impl Mlp {
    /// Checks and wraps `layers` (the last is the output layer); `source` names the network
    /// in errors (a file, an argument). Refused: no layer, an empty weight, a bias whose
    /// length is not the layer's width, a layer whose inputs are not the previous layer's
    /// outputs, a NaN or infinite value; each error names the tensor.
    pub fn new(layers: Vec<Dense>, source: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let bad = |message: String| Err(Error::data(&source, message));
        if layers.is_empty() {
            return bad("no layers: a network needs at least its output layer".into());
        }
        for (l, layer) in layers.iter().enumerate() {
            let [w_name, b_name] = &layer.names;
            let (n, d) = (layer.width(), layer.inputs());
            if n == 0 || d == 0 {
                return bad(format!(
                    "`{w_name}` is {n}x{d}: a layer needs at least one unit and one input"
                ));
            }
            if let Some(b) = &layer.bias {
                if b.len() != n {
                    return bad(format!(
                        "`{b_name}` has {} values, but `{w_name}` is {n}x{d} (outputs x \
                         inputs): a bias has one value per output",
                        b.len()
                    ));
                }
            }
            if l > 0 {
                let previous = &layers[l - 1];
                if previous.width() != d {
                    return bad(format!(
                        "`{w_name}` is {n}x{d} (outputs x inputs), but the layer before it, \
                         `{}` ({}x{}), has {} outputs: each layer's inputs are the previous \
                         layer's outputs",
                        previous.names[0],
                        previous.width(),
                        previous.inputs(),
                        previous.width()
                    ));
                }
            }
            let values = layer.weight.as_slice().iter().map(|v| (w_name, v));
            let bias = layer.bias.iter().flatten().map(|v| (b_name, v));
            if let Some((name, v)) = values.chain(bias).find(|(_, v)| !v.is_finite()) {
                return bad(format!(
                    "`{name}` holds {v}: weights and biases must be finite"
                ));
            }
        }
        Ok(Self { layers, source })
    }

    /// The paper's network f(x) = V relu(W x), checked, as an MLP: W is layer 1, V the
    /// output layer, no biases (tensors named `W` and `V`).
    pub fn from_weights(net: &Weights) -> Self {
        Self {
            layers: vec![
                Dense::new(net.w.clone(), None, "W", "b"),
                Dense::new(net.v.clone(), None, "V", "c"),
            ],
            source: "the network f(x) = V relu(W x)".into(),
        }
    }

    /// The paper's network when this is one: one hidden layer and no biases.
    pub fn as_paper_network(&self) -> Option<Network<f64>> {
        match &self.layers[..] {
            [w, v] if w.bias.is_none() && v.bias.is_none() => Some(Network {
                w: w.weight.clone(),
                v: v.weight.clone(),
                output_layer: OutputLayer::Trained,
            }),
            _ => None,
        }
    }

    /// The layers, input side first (the last is the output layer).
    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }
    /// What the network was read from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// Hidden layers L.
    pub fn depth(&self) -> usize {
        self.layers.len() - 1
    }
    /// Input dimension n_0 = d.
    pub fn dim(&self) -> usize {
        self.layers[0].inputs()
    }
    /// Outputs c.
    pub fn outputs(&self) -> usize {
        self.layers[self.layers.len() - 1].width()
    }
    /// n_0, n_1, ..., n_L, c.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.dim())
            .chain(self.layers.iter().map(Dense::width))
            .collect()
    }
    /// Parameters of all layers.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(Dense::parameters).sum()
    }

    /// The forward pass on the rows of `x` (m x d, d = [`Self::dim`]): every layer's input
    /// and the outputs. `name` names `x` in errors: another width, or values so large that
    /// an activation overflows f64.
    pub fn forward(&self, x: &Matrix<f64>, name: &str) -> Result<Activations> {
        if x.cols() != self.dim() {
            return Err(Error::data(
                name,
                format!(
                    "{} features per sample, but the network takes {} inputs (`{}` is {}x{})",
                    x.cols(),
                    self.dim(),
                    self.layers[0].names[0],
                    self.layers[0].width(),
                    self.dim()
                ),
            ));
        }
        let mut inputs = vec![x.clone()];
        let mut output = Matrix::zeros(0, 0);
        for (l, layer) in self.layers.iter().enumerate() {
            let h = inputs.last().expect("h_0 is there");
            let mut z = Matrix::zeros(h.rows(), layer.width());
            gemm(
                &mut z,
                false,
                h.view(),
                Op::N,
                layer.weight.view(),
                Op::T,
                1.0,
            );
            if let Some(b) = &layer.bias {
                for i in 0..z.rows() {
                    z.row_mut(i).iter_mut().zip(b).for_each(|(z, b)| *z += b);
                }
            }
            if !z.par_all(|v| v.is_finite()) {
                return Err(Error::data(
                    name,
                    format!(
                        "the pre-activations of layer {} (`{}`) overflow f64 on these inputs: \
                         rescale the inputs or the weights",
                        l + 1,
                        layer.names[0]
                    ),
                ));
            }
            if l == self.depth() {
                output = z;
            } else {
                crate::model::network::relu(z.as_mut_slice());
                inputs.push(z);
            }
        }
        Ok(Activations { inputs, output })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(n: usize, d: usize, bias: bool, name: &str) -> Dense {
        let w = Matrix::from_vec(n, d, (0..n * d).map(|v| (v as f64 * 0.37).sin()).collect());
        let b = bias.then(|| (0..n).map(|v| (v as f64).cos()).collect());
        Dense::new(w, b, format!("{name}.weight"), format!("{name}.bias"))
    }

    #[test]
    fn shapes_that_do_not_chain_and_non_finite_values_are_named() {
        let net = Mlp::new(vec![layer(4, 3, true, "0"), layer(2, 4, false, "2")], "f").unwrap();
        assert_eq!(net.widths(), vec![3, 4, 2]);
        assert_eq!(net.parameters(), 4 * 4 + 2 * 4);
        let e = Mlp::new(vec![layer(4, 3, true, "0"), layer(2, 5, true, "2")], "f")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`2.weight` is 2x5") && e.contains("`0.weight` (4x3), has 4 outputs"),
            "{e}"
        );
        let mut bad = layer(4, 3, true, "0");
        bad.bias = Some(vec![1.0; 3]);
        let e = Mlp::new(vec![bad], "f").unwrap_err().to_string();
        assert!(e.contains("`0.bias` has 3 values"), "{e}");
        let mut bad = layer(4, 3, true, "0");
        bad.bias.as_mut().unwrap()[2] = f64::NAN;
        let e = Mlp::new(vec![bad], "f").unwrap_err().to_string();
        assert!(e.starts_with("f: `0.bias` holds NaN"), "{e}");
        let e = Mlp::new(vec![], "f").unwrap_err().to_string();
        assert!(e.contains("no layers"), "{e}");
    }

    #[test]
    fn the_forward_pass_matches_the_definition() {
        let net = Mlp::new(
            vec![
                layer(5, 3, true, "0"),
                layer(4, 5, false, "2"),
                layer(2, 4, true, "4"),
            ],
            "f",
        )
        .unwrap();
        let x = Matrix::from_vec(2, 3, vec![0.3, -0.2, 0.9, -1.0, 0.5, 0.1]);
        let acts = net.forward(&x, "X").unwrap();
        for i in 0..2 {
            let mut h = x.row(i).to_vec();
            for (l, layer) in net.layers().iter().enumerate() {
                let z: Vec<f64> = (0..layer.width())
                    .map(|k| {
                        let dot: f64 = layer.weight.row(k).iter().zip(&h).map(|(a, b)| a * b).sum();
                        dot + layer.bias.as_ref().map_or(0.0, |b| b[k])
                    })
                    .collect();
                h = if l == net.depth() {
                    z
                } else {
                    z.iter().map(|v| v.max(0.0)).collect()
                };
            }
            for (a, b) in acts.output.row(i).iter().zip(&h) {
                assert!((a - b).abs() < 1e-14);
            }
        }
        let e = net
            .forward(&Matrix::zeros(1, 4), "X")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("4 features per sample, but the network takes 3"),
            "{e}"
        );
    }

    #[test]
    fn the_paper_network_round_trips() {
        let net = Network {
            w: Matrix::from_vec(2, 2, vec![1.0, 0.5, -0.3, 2.0]),
            v: Matrix::from_vec(1, 2, vec![1.0, -1.0]),
            output_layer: OutputLayer::Trained,
        };
        let mlp = Mlp::from_weights(&Weights::of(net.clone(), "net").unwrap());
        assert_eq!(mlp.as_paper_network().unwrap(), net);
        let biased = Mlp::new(vec![layer(2, 2, true, "0"), layer(1, 2, false, "2")], "f").unwrap();
        assert!(biased.as_paper_network().is_none());
    }
}
