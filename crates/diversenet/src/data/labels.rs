//! Class labels as a user gives them (integers, real numbers or names) and their encoding
//! as the class indices 0..c-1 a network's outputs stand for, as scikit-learn's
//! `LabelEncoder` does: a classifier's classes are the distinct labels of its training
//! targets, sorted, and output j predicts class j. The classes are stored with the model
//! ([`ClassLabels`]), so that labels {3, 10} make a two-output classifier that predicts 3
//! or 10, never an eleven-output one.

use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Message, Result};

use super::csv::MAX_CLASSES;
use super::targets::{target_shape, TargetArray};
use super::{check_finite_targets, Targets, Task};

/// The values of a targets array (Python's y), in C order.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelValues {
    /// Numbers, and whether the array's type was an integer or boolean one.
    Numbers { values: Vec<f64>, integer: bool },
    /// Strings.
    Names(Vec<String>),
}

impl LabelValues {
    pub fn len(&self) -> usize {
        match self {
            Self::Numbers { values, .. } => values.len(),
            Self::Names(names) => names.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Value `i` as a user would write it.
    fn show(&self, i: usize) -> String {
        match self {
            Self::Numbers { values, .. } => values[i].to_string(),
            Self::Names(names) => format!("{:?}", names[i]),
        }
    }
}

/// The classes of a classifier in the order of its outputs (output j stands for class j):
/// at least two, distinct, all of one kind. Stored in model files as a JSON array.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ClassLabels {
    Integers(Vec<i64>),
    Reals(Vec<f64>),
    Names(Vec<String>),
}

impl fmt::Display for ClassLabels {
    /// The classes as a list (the first ten, then how many more).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = (0..self.len().min(10)).map(|j| self.show(j)).collect();
        write!(f, "{}", shown.join(", "))?;
        if self.len() > 10 {
            write!(f, ", ... ({} classes)", self.len())?;
        }
        Ok(())
    }
}

impl ClassLabels {
    /// The classes 0..c-1 (a classifier trained on labels that are class indices).
    pub fn indices(c: usize) -> Self {
        Self::Integers((0..c as i64).collect())
    }

    /// Classes given in output order, checked: at least two, distinct, at most
    /// [`MAX_CLASSES`], real ones finite. `name` names them in errors.
    pub fn new(labels: Self, name: &str) -> Result<Self> {
        let c = labels.len();
        if c < 2 {
            return Err(Error::data(
                name,
                format!(
                    "{c} class(es): a classifier needs at least two (its outputs stand for the \
                     classes in order)"
                ),
            ));
        }
        if c > MAX_CLASSES {
            return Err(Error::data(
                name,
                format!("{c} classes; at most {MAX_CLASSES} are accepted"),
            ));
        }
        if let Self::Reals(values) = &labels {
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return Err(Error::data(name, format!("class {v} is not finite")));
            }
        }
        let order = labels.sorted_order();
        if let Some(w) = order.windows(2).find(|w| labels.cmp(w[0], w[1]).is_eq()) {
            return Err(Error::data(
                name,
                format!(
                    "class {} appears twice: each output stands for one class",
                    labels.show(w[0])
                ),
            ));
        }
        Ok(labels)
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Integers(v) => v.len(),
            Self::Reals(v) => v.len(),
            Self::Names(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the classes are 0..c-1 in order (labels are then their own indices).
    pub fn are_indices(&self) -> bool {
        matches!(self, Self::Integers(v) if v.iter().enumerate().all(|(j, &l)| l == j as i64))
    }

    /// Class j as a user would write it.
    pub fn show(&self, j: usize) -> String {
        match self {
            Self::Integers(v) => v[j].to_string(),
            Self::Reals(v) => v[j].to_string(),
            Self::Names(v) => format!("{:?}", v[j]),
        }
    }

    fn cmp(&self, a: usize, b: usize) -> Ordering {
        match self {
            Self::Integers(v) => v[a].cmp(&v[b]),
            Self::Reals(v) => v[a].total_cmp(&v[b]),
            Self::Names(v) => v[a].cmp(&v[b]),
        }
    }

    /// The output indices sorted by class.
    fn sorted_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| self.cmp(a, b));
        order
    }

    /// The classes of training targets: their distinct values, sorted (as scikit-learn's
    /// `LabelEncoder` finds them), refused when there are fewer than two. Integer arrays
    /// give integer classes, real arrays real ones (each finite), strings names.
    pub fn fit(values: &LabelValues, name: &str) -> Result<Self> {
        let labels = match values {
            LabelValues::Numbers {
                values,
                integer: true,
            } => Self::Integers(values.iter().map(|&v| v as i64).collect()),
            LabelValues::Numbers { values, .. } => {
                check_finite_targets(values, 1, name)?;
                Self::Reals(values.clone())
            }
            LabelValues::Names(names) => Self::Names(names.clone()),
        };
        let distinct = match labels {
            Self::Integers(mut v) => {
                v.sort_unstable();
                v.dedup();
                Self::Integers(v)
            }
            Self::Reals(mut v) => {
                v.sort_unstable_by(f64::total_cmp);
                v.dedup();
                Self::Reals(v)
            }
            Self::Names(mut v) => {
                v.sort_unstable();
                v.dedup();
                Self::Names(v)
            }
        };
        if distinct.len() == 1 {
            return Err(Error::data(
                name,
                format!(
                    "every label is {}: a classifier needs at least two classes in its \
                     training targets",
                    distinct.show(0)
                ),
            ));
        }
        Self::new(distinct, name)
    }

    /// The output index of each label (`None` for a label that is no class: a number
    /// against names, a name against numbers, or a value not among the classes).
    pub fn positions(&self, values: &LabelValues) -> Vec<Option<usize>> {
        let order = self.sorted_order();
        let find = |probe: &dyn Fn(usize) -> Ordering| {
            order.binary_search_by(|&j| probe(j)).ok().map(|k| order[k])
        };
        match (self, values) {
            (Self::Integers(c), LabelValues::Numbers { values, .. }) => values
                .iter()
                .map(|&v| {
                    let whole = v.fract() == 0.0 && v.abs() < 9.3e18;
                    whole.then(|| find(&|j| c[j].cmp(&(v as i64)))).flatten()
                })
                .collect(),
            (Self::Reals(c), LabelValues::Numbers { values, .. }) => values
                .iter()
                .map(|&v| find(&|j| c[j].total_cmp(&v)))
                .collect(),
            (Self::Names(c), LabelValues::Names(names)) => names
                .iter()
                .map(|v| find(&|j| c[j].as_str().cmp(v)))
                .collect(),
            _ => vec![None; values.len()],
        }
    }

    /// The class indices of labels that must all be classes (a test set's targets, the
    /// targets a model is measured against); the first that is not is the error.
    pub fn encode(&self, values: &LabelValues, name: &str) -> Result<Vec<u32>> {
        let positions = self.positions(values);
        match positions.iter().position(Option::is_none) {
            Some(i) => Err(Error::data(
                name,
                format!(
                    "label {} of sample {i} is not one of the model's classes ({self})",
                    values.show(i)
                ),
            )),
            None => Ok(positions
                .into_iter()
                .map(|p| p.unwrap_or(0) as u32)
                .collect()),
        }
    }
}

/// Training targets from an array: class indices with the classes they stand for, or
/// real values. `task` decides: `Auto` reads integer (and boolean) arrays as class labels,
/// real arrays as real values, and refuses strings (they are class labels only when asked
/// for, with `Classify`: a string '0.5' is not silently a number); `Classify` reads any
/// labels as classes, `Regress` numbers as real values. Classes are the distinct labels,
/// sorted (at least two). `shape` is the array's, one row per row of `inputs`.
pub fn training_targets(
    shape: &[usize],
    values: LabelValues,
    task: Task,
    name: &str,
    rows: usize,
    inputs: &str,
) -> Result<(TargetArray, Option<ClassLabels>)> {
    let classify = match (&values, task) {
        (LabelValues::Names(names), Task::Auto | Task::Regress) => {
            let shown: Vec<&str> = names.iter().take(3).map(String::as_str).collect();
            let message = Message::from(format!(
                "the targets are strings ({shown:?}{}): strings are read as class labels only \
                 when asked, with ",
                if names.len() > 3 { ", ..." } else { "" }
            ))
            .setting_value("task", "classify")
            .text("; for real values, pass numbers");
            return Err(Error::data(name, message));
        }
        (LabelValues::Numbers { integer, .. }, Task::Auto) => *integer,
        (_, Task::Classify) => true,
        (_, Task::Regress) => false,
    };
    if !classify {
        let LabelValues::Numbers { values, .. } = values else {
            unreachable!("strings are refused above")
        };
        return Ok((
            TargetArray::new(shape, values, false, name, rows, inputs)?,
            None,
        ));
    }
    let m = target_shape(shape, true, name, rows, inputs)?.0;
    debug_assert_eq!(m, values.len());
    let classes = ClassLabels::fit(&values, name)?;
    let labels = classes.encode(&values, name)?;
    let targets = Targets::Classes {
        labels,
        num_classes: classes.len(),
    };
    Ok((TargetArray::Classes(targets), Some(classes)))
}

/// The targets of other data (a test set) for a model with `classes` (`None`: a model of
/// real values): labels encoded as its classes (every label must be one), or real values.
pub fn targets_for(
    classes: Option<&ClassLabels>,
    shape: &[usize],
    values: LabelValues,
    name: &str,
    rows: usize,
    inputs: &str,
) -> Result<TargetArray> {
    match (classes, values) {
        (Some(classes), values) => {
            target_shape(shape, true, name, rows, inputs)?;
            let labels = classes.encode(&values, name)?;
            Ok(TargetArray::Classes(Targets::Classes {
                labels,
                num_classes: classes.len(),
            }))
        }
        (None, LabelValues::Numbers { values, .. }) => {
            TargetArray::new(shape, values, false, name, rows, inputs)
        }
        (None, LabelValues::Names(_)) => Err(Error::data(
            name,
            "the targets are strings, but the model predicts real values: pass numbers",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: &[i64]) -> LabelValues {
        LabelValues::Numbers {
            values: v.iter().map(|&x| x as f64).collect(),
            integer: true,
        }
    }

    fn names(v: &[&str]) -> LabelValues {
        LabelValues::Names(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn classes_are_the_sorted_distinct_labels_whatever_their_values() {
        let (targets, classes) =
            training_targets(&[4], ints(&[10, 3, 10, 3]), Task::Auto, "y", 4, "X").unwrap();
        assert_eq!(classes, Some(ClassLabels::Integers(vec![3, 10])));
        assert_eq!(
            targets,
            TargetArray::Classes(Targets::Classes {
                labels: vec![1, 0, 1, 0],
                num_classes: 2
            })
        );
        let (_, classes) =
            training_targets(&[3], ints(&[2, 0, 1]), Task::Auto, "y", 3, "X").unwrap();
        assert!(classes.unwrap().are_indices());
        let (_, negative) =
            training_targets(&[2], ints(&[-1, 1]), Task::Auto, "y", 2, "X").unwrap();
        assert_eq!(negative, Some(ClassLabels::Integers(vec![-1, 1])));
        let (t, classes) =
            training_targets(&[3], names(&["b", "a", "b"]), Task::Classify, "y", 3, "X").unwrap();
        assert_eq!(
            classes,
            Some(ClassLabels::Names(vec!["a".into(), "b".into()]))
        );
        assert_eq!(t.into_targets("y").unwrap().outputs(), 2);
        let reals = LabelValues::Numbers {
            values: vec![0.5, 1.5, 0.5],
            integer: false,
        };
        let (_, classes) =
            training_targets(&[3], reals.clone(), Task::Classify, "y", 3, "X").unwrap();
        assert_eq!(classes, Some(ClassLabels::Reals(vec![0.5, 1.5])));
        let (t, none) = training_targets(&[3], reals, Task::Auto, "y", 3, "X").unwrap();
        assert!(none.is_none() && matches!(t, TargetArray::Real(_)));
        let (t, none) = training_targets(&[2], ints(&[0, 1]), Task::Regress, "y", 2, "X").unwrap();
        assert!(none.is_none() && matches!(t, TargetArray::Real(_)));
    }

    #[test]
    fn strings_one_class_and_unknown_labels_are_refused() {
        let e = |r: Result<(TargetArray, Option<ClassLabels>)>| r.unwrap_err().to_string();
        let text = e(training_targets(
            &[2],
            names(&["0", "1"]),
            Task::Auto,
            "y",
            2,
            "X",
        ));
        assert!(
            text.starts_with("y: the targets are strings ([\"0\", \"1\"])")
                && text.contains("`task` = classify"),
            "{text}"
        );
        assert!(e(training_targets(
            &[2],
            names(&["0", "1"]),
            Task::Regress,
            "y",
            2,
            "X"
        ))
        .contains("strings"));
        let text = e(training_targets(
            &[3],
            ints(&[7, 7, 7]),
            Task::Auto,
            "y",
            3,
            "X",
        ));
        assert!(
            text.starts_with("y: every label is 7: a classifier needs at least two classes"),
            "{text}"
        );
        let classes = ClassLabels::Integers(vec![3, 10]);
        let text = classes
            .encode(&ints(&[3, 4]), "y_test")
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            "y_test: label 4 of sample 1 is not one of the model's classes (3, 10)"
        );
        assert_eq!(classes.positions(&ints(&[10, 4])), vec![Some(1), None]);
        assert_eq!(classes.positions(&names(&["3"])), vec![None]);
    }

    #[test]
    fn classes_given_in_output_order_are_checked() {
        let e = |l: ClassLabels| ClassLabels::new(l, "classes").unwrap_err().to_string();
        assert!(e(ClassLabels::Integers(vec![1])).contains("at least two"));
        assert!(
            e(ClassLabels::Names(vec!["a".into(), "b".into(), "a".into()]))
                .contains("class \"a\" appears twice")
        );
        assert!(e(ClassLabels::Reals(vec![0.0, f64::NAN])).contains("not finite"));
        // Output order is kept: output 0 stands for 10.
        let c = ClassLabels::new(ClassLabels::Integers(vec![10, 3]), "classes").unwrap();
        assert_eq!(c.positions(&ints(&[3, 10])), vec![Some(1), Some(0)]);
        assert!(!c.are_indices());
    }

    #[test]
    fn classes_are_stored_as_a_json_array_of_their_kind() {
        for classes in [
            ClassLabels::Integers(vec![3, 10]),
            ClassLabels::Reals(vec![0.5, 2.0]),
            ClassLabels::Names(vec!["cat".into(), "dog".into()]),
        ] {
            let json = serde_json::to_string(&classes).unwrap();
            assert_eq!(serde_json::from_str::<ClassLabels>(&json).unwrap(), classes);
        }
        assert_eq!(
            serde_json::to_string(&ClassLabels::Reals(vec![0.0, 1.0])).unwrap(),
            "[0.0,1.0]"
        );
    }
}
