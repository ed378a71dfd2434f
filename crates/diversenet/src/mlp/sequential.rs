//! A PyTorch `nn.Sequential` of `Linear` and `ReLU` modules from its state dict (the
//! tensor names `0.weight`, `0.bias`, `2.weight`, ...), as a safetensors file stores it or
//! as Python hands it over. Anything else is refused with the tensor or module named.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::linalg::Matrix;

use super::{Dense, Mlp};

/// What is accepted, for messages.
pub const SUPPORTED: &str = "supported: nn.Sequential of Linear and ReLU modules alternating \
    (Linear, ReLU, Linear, ..., Linear; any depth, biases optional per layer), state-dict \
    names `0.weight`, `0.bias`, `2.weight`, ...";

/// One tensor of a state dict: its name, shape and values (row-major, as f64).
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// The module kinds that may appear, as PyTorch's class names.
const LINEAR: &str = "Linear";
const RELU: &str = "ReLU";
const FLATTEN: &str = "Flatten";

/// Reads the network from `tensors` (a state dict). `modules`, when known (Python hands
/// over a module's children), are the class names of the Sequential's modules in order:
/// Linear and ReLU alternating, starting and ending with Linear; a Flatten may come first.
/// Without them (a safetensors file) the modules are inferred from the names: Linear at
/// 0, 2, 4, ... with one parameter-free module (a ReLU) between two. `source` names the
/// network in errors.
pub fn from_state_dict(
    tensors: Vec<NamedTensor>,
    modules: Option<&[String]>,
    source: &str,
) -> Result<Mlp> {
    let refuse = |message: String| refusal(source, message);
    // The modules, when known, are checked first: a BatchNorm is named as a module.
    let from_modules = match modules.map(check_modules) {
        Some(Ok(positions)) => Some(positions),
        Some(Err(message)) => return refuse(message),
        None => None,
    };
    let mut by_module: BTreeMap<usize, (Option<NamedTensor>, Option<NamedTensor>)> =
        BTreeMap::new();
    for t in tensors {
        let Some((index, param)) = t.name.split_once('.') else {
            return refuse(format!(
                "tensor `{}` is not named as a module of nn.Sequential (`INDEX.weight`)",
                t.name
            ));
        };
        let Ok(index) = index.parse::<usize>() else {
            return refuse(format!(
                "tensor `{}` is not named as a module of nn.Sequential (`INDEX.weight`, \
                 INDEX a number)",
                t.name
            ));
        };
        let entry = by_module.entry(index).or_default();
        match param {
            "weight" => entry.0 = Some(t),
            "bias" => entry.1 = Some(t),
            "running_mean" | "running_var" | "num_batches_tracked" => {
                return refuse(format!(
                    "tensor `{}` belongs to a normalisation layer (BatchNorm)",
                    t.name
                ))
            }
            _ => {
                return refuse(format!(
                    "tensor `{}`: a Linear module has only `weight` and `bias`",
                    t.name
                ))
            }
        }
    }
    if by_module.is_empty() {
        return refuse("no tensors".into());
    }
    let linear_positions: Vec<usize> = match from_modules {
        Some(positions) => positions,
        None => {
            let first = *by_module.keys().next().expect("not empty");
            let last = *by_module.keys().last().expect("not empty");
            (first..=last).step_by(2).collect()
        }
    };
    for (&index, (weight, bias)) in &by_module {
        let named = weight.as_ref().or(bias.as_ref()).expect("one of them");
        if !linear_positions.contains(&index) {
            return refuse(match modules {
                Some(kinds) => format!(
                    "tensor `{}` belongs to module {index} ({}), which is not a Linear",
                    named.name,
                    kinds.get(index).map_or("missing", String::as_str)
                ),
                None => format!(
                    "tensor `{}` is at module {index}, but Linear modules sit at every \
                     second index from {}: another module with parameters (a normalisation \
                     layer?) or a missing ReLU",
                    named.name, linear_positions[0]
                ),
            });
        }
    }
    if modules.is_none() && linear_positions[0] != 0 {
        return refuse(format!(
            "the first tensor is `{}`: module 0 has no parameters, so it is not a Linear",
            by_module
                .values()
                .next()
                .and_then(|(w, b)| w.as_ref().or(b.as_ref()))
                .map_or("", |t| &t.name)
        ));
    }
    let mut layers = Vec::with_capacity(linear_positions.len());
    for index in linear_positions {
        let (weight, bias) = by_module.remove(&index).unwrap_or((None, None));
        let Some(weight) = weight else {
            return refuse(match bias {
                Some(b) => format!("tensor `{}` has no `{index}.weight` beside it", b.name),
                None => format!(
                    "module {index} has no tensors, but a Linear belongs there (every \
                     second module, between ReLUs)"
                ),
            });
        };
        let weight = match weight.shape[..] {
            [n, d] => Matrix::from_vec(n, d, weight.data),
            [_] => {
                return refuse(format!(
                    "tensor `{}` is 1-dimensional: a normalisation layer (LayerNorm?), not a \
                     Linear (2-D weight)",
                    weight.name
                ))
            }
            _ => {
                return refuse(format!(
                    "tensor `{}` has shape {:?}: a convolution? A Linear's weight is 2-D \
                     (outputs x inputs)",
                    weight.name, weight.shape
                ))
            }
        };
        let bias = match bias {
            None => None,
            Some(b) if b.shape.len() == 1 => Some(b.data),
            Some(b) => {
                return refuse(format!(
                    "tensor `{}` has shape {:?}; a Linear's bias is 1-D",
                    b.name, b.shape
                ))
            }
        };
        layers.push(Dense::new(
            weight,
            bias,
            format!("{index}.weight"),
            format!("{index}.bias"),
        ));
    }
    Mlp::new(layers, source)
}

/// The error for a network that is not a supported Sequential: `message` and what is.
fn refusal<T>(source: &str, message: String) -> Result<T> {
    Err(Error::data(source, format!("{message}; {SUPPORTED}")))
}

/// The positions of the Linear modules among `kinds` (the Sequential's modules in order),
/// or why the sequence is not Linear and ReLU alternating (an optional Flatten first).
fn check_modules(kinds: &[String]) -> std::result::Result<Vec<usize>, String> {
    let start = usize::from(kinds.first().map(String::as_str) == Some(FLATTEN));
    let body = &kinds[start..];
    if body.is_empty() {
        return Err("the Sequential has no Linear module".into());
    }
    for (offset, kind) in body.iter().enumerate() {
        let index = start + offset;
        let expected = if offset % 2 == 0 { LINEAR } else { RELU };
        if kind != expected {
            let what = match kind.as_str() {
                LINEAR | RELU => format!("module {index} is a {kind} where a {expected} belongs"),
                FLATTEN => format!("module {index} is a Flatten: one is accepted first only"),
                other => format!(
                    "module {index} is a {other}: only Linear and ReLU (and a Flatten first) \
                     are supported"
                ),
            };
            return Err(what);
        }
    }
    if body.len().is_multiple_of(2) {
        return Err(format!(
            "the last module ({}) is a ReLU: the output layer must be a Linear",
            kinds.len() - 1
        ));
    }
    Ok((start..kinds.len()).step_by(2).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, shape: &[usize]) -> NamedTensor {
        NamedTensor {
            name: name.into(),
            shape: shape.to_vec(),
            data: (0..shape.iter().product::<usize>())
                .map(|v| (v as f64 * 0.3).sin())
                .collect(),
        }
    }

    fn refusal(tensors: Vec<NamedTensor>, modules: Option<&[&str]>) -> String {
        let kinds: Option<Vec<String>> = modules.map(|k| k.iter().map(|s| s.to_string()).collect());
        from_state_dict(tensors, kinds.as_deref(), "net.safetensors")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_any_depth_with_optional_biases() {
        let net = from_state_dict(
            vec![
                tensor("0.weight", &[5, 3]),
                tensor("0.bias", &[5]),
                tensor("2.weight", &[4, 5]),
                tensor("4.weight", &[2, 4]),
                tensor("4.bias", &[2]),
            ],
            None,
            "f",
        )
        .unwrap();
        assert_eq!(net.widths(), vec![3, 5, 4, 2]);
        let biases: Vec<bool> = net.layers().iter().map(|l| l.bias.is_some()).collect();
        assert_eq!(biases, vec![true, false, true]);
        assert_eq!(net.layers()[1].names[0], "2.weight");
        // The modules told by Python: a Flatten first shifts the Linear modules to 1, 3.
        let kinds: Vec<String> = ["Flatten", "Linear", "ReLU", "Linear"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let net = from_state_dict(
            vec![tensor("1.weight", &[4, 3]), tensor("3.weight", &[1, 4])],
            Some(&kinds),
            "f",
        )
        .unwrap();
        assert_eq!(net.widths(), vec![3, 4, 1]);
    }

    #[test]
    fn refuses_other_layers_naming_the_tensor_or_module() {
        type Case<'a> = (Vec<NamedTensor>, Option<&'a [&'a str]>, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![
                    tensor("0.weight", &[4, 3]),
                    tensor("1.weight", &[4]),
                    tensor("1.bias", &[4]),
                ],
                None,
                "tensor `1.weight` is at module 1",
            ),
            (
                vec![tensor("0.weight", &[4, 3]), tensor("1.running_mean", &[4])],
                None,
                "`1.running_mean` belongs to a normalisation layer",
            ),
            (
                vec![
                    tensor("0.weight", &[4, 1, 3, 3]),
                    tensor("2.weight", &[1, 4]),
                ],
                None,
                "`0.weight` has shape [4, 1, 3, 3]: a convolution?",
            ),
            (
                vec![tensor("fc1.weight", &[4, 3])],
                None,
                "`fc1.weight` is not named as a module",
            ),
            (
                vec![tensor("0.weight", &[4, 3]), tensor("4.weight", &[1, 4])],
                None,
                "module 2 has no tensors",
            ),
            (
                vec![tensor("0.weight", &[4, 3]), tensor("2.weight", &[1, 5])],
                None,
                "`2.weight` is 1x5",
            ),
            (
                vec![tensor("0.weight", &[4, 3]), tensor("2.weight", &[1, 4])],
                Some(&["Linear", "Tanh", "Linear"]),
                "module 1 is a Tanh: only Linear and ReLU",
            ),
            (
                vec![tensor("0.weight", &[4, 3])],
                Some(&["Linear", "ReLU"]),
                "the last module (1) is a ReLU",
            ),
            (
                vec![
                    tensor("0.weight", &[4, 3]),
                    tensor("1.weight", &[4]),
                    tensor("2.weight", &[1, 4]),
                ],
                Some(&["Linear", "LayerNorm", "Linear"]),
                "module 1 is a LayerNorm",
            ),
            (
                vec![tensor("1.weight", &[4, 3]), tensor("3.weight", &[1, 4])],
                None,
                "module 0 has no parameters",
            ),
        ];
        for (tensors, modules, expected) in cases {
            let e = refusal(tensors, modules);
            // Shapes that do not chain are the network's constructor's refusal.
            let listed = e.contains("supported: nn.Sequential") || expected.contains("is 1x5");
            assert!(e.contains(expected) && listed, "{e}");
        }
    }
}
