//! ONNX files out of gradlab, through burn-onnx's exporter (`burn_onnx::export`): the model's
//! forward pass is captured twice (two batch sizes, so the batch axis is symbolic) and lowered to
//! an ONNX graph (opset 18) with the weights embedded as initializers named by their parameter
//! paths (`conv1.weight`). burn-onnx names the graph's input and output after internal tensor
//! ids (`tensor_17`); [`export`] renames them to the names a caller documents (`images`,
//! `logits`) and records who made the file, so a user's `onnxruntime` code can rely on them.
//!
//! The exporter is experimental: a forward pass that uses an operation it cannot lower fails
//! with an error naming that operation (nothing is written).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::Tensor;
use burn_onnx::export::{AxisSpec, InputSpec, OnnxExporter};
use onnx_ir::{GraphProto, Message, ModelProto};

/// The ONNX operator set gradlab's files use.
pub const OPSET: i64 = 18;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;

/// What an exported graph is called and says about itself.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The graph input's name (`images`).
    pub input: String,
    /// The graph output's name (`logits`).
    pub output: String,
    /// The model's description (ModelProto `doc_string`).
    pub doc: String,
    /// Extra key/value pairs (ModelProto `metadata_props`), e.g. the model.json it came from.
    pub metadata: BTreeMap<String, String>,
}

/// One axis of an ONNX input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A symbolic size, by its symbol (`batch`).
    Symbolic(String),
}

/// One input or output of an ONNX file: its name and axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// The value's name.
    pub name: String,
    /// Each axis.
    pub dims: Vec<Dim>,
}

/// What [`describe`] reads back from an ONNX file.
#[derive(Debug, Clone)]
pub struct Description {
    /// The default-domain operator set.
    pub opset: i64,
    /// Graph inputs (weights excluded: they are initializers).
    pub inputs: Vec<Port>,
    /// Graph outputs.
    pub outputs: Vec<Port>,
    /// The operator types used, in graph order, each once.
    pub operators: Vec<String>,
    /// Number of float32 initializers (the weights; shape constants left out) and their total
    /// number of values.
    pub weights: (usize, usize),
    /// `producer_name producer_version`.
    pub producer: String,
    /// `metadata_props`.
    pub metadata: BTreeMap<String, String>,
}

/// Write `module` as an ONNX file at `path` (never over an existing file): its forward pass on
/// one input tensor whose first axis is the symbolic `batch` axis, traced on `sample` and on
/// `validation` (same shape but for the batch size, which must differ). Returns the file's size
/// in bytes.
pub fn export<M: Module, const DI: usize, const DO: usize>(
    module: &M,
    (sample, validation): (Tensor<DI>, Tensor<DI>),
    forward: impl Fn(&M, Tensor<DI>) -> Tensor<DO>,
    signature: &Signature,
    path: &Path,
) -> Result<u64> {
    crate::io::ensure_new(path)?;
    let axes = std::iter::once(AxisSpec::dynamic("batch"))
        .chain(std::iter::repeat_n(AxisSpec::Static, DI - 1))
        .collect::<Vec<_>>();
    let onnx = OnnxExporter::new()
        .export_dynamic(module, sample, validation, &[InputSpec::new(axes)], forward)
        .map_err(|e| anyhow::anyhow!("burn-onnx cannot export this model: {e}"))?;
    let mut model =
        ModelProto::parse_from_bytes(onnx.as_bytes()).context("burn-onnx wrote an unreadable ONNX model")?;
    sign(&mut model, signature)?;
    let bytes = model.write_to_bytes().context("cannot serialise the ONNX model")?;
    crate::io::atomic_write(path, &bytes)?;
    Ok(bytes.len() as u64)
}

/// Rename the one input and one output, and set producer, description and metadata.
fn sign(model: &mut ModelProto, signature: &Signature) -> Result<()> {
    let graph = model.graph.as_mut().context("the exported ONNX model has no graph")?;
    let (inputs, outputs) = (graph.input.len(), graph.output.len());
    if inputs != 1 || outputs != 1 {
        bail!("expected an ONNX graph with one input and one output, found {inputs} and {outputs}");
    }
    let old_in = graph.input[0].name.clone();
    let old_out = graph.output[0].name.clone();
    rename(graph, &old_in, &signature.input);
    rename(graph, &old_out, &signature.output);
    model.producer_name = "gradlab".into();
    model.producer_version = format!("{} (burn-onnx 0.22.0 exporter)", env!("CARGO_PKG_VERSION"));
    model.doc_string = signature.doc.clone();
    for (key, value) in &signature.metadata {
        model.metadata_props.push(Default::default());
        let entry = model.metadata_props.last_mut().expect("just pushed");
        entry.key = key.clone();
        entry.value = value.clone();
    }
    Ok(())
}

/// Every use of the value `old` in `graph` (inputs, outputs, node ends, value infos) as `new`.
fn rename(graph: &mut GraphProto, old: &str, new: &str) {
    let swap = |name: &mut String| {
        if name == old {
            *name = new.to_string();
        }
    };
    graph.input.iter_mut().for_each(|v| swap(&mut v.name));
    graph.output.iter_mut().for_each(|v| swap(&mut v.name));
    graph.value_info.iter_mut().for_each(|v| swap(&mut v.name));
    for node in &mut graph.node {
        node.input.iter_mut().for_each(swap);
        node.output.iter_mut().for_each(swap);
    }
}

/// Read an ONNX file's opset, inputs, outputs, operators and weights (at most
/// [`crate::exchange::MAX_FILE_BYTES`]); an unreadable file is an error naming it.
pub fn describe(path: &Path) -> Result<Description> {
    let bytes = crate::io::read_bounded(path, crate::exchange::MAX_FILE_BYTES, "an ONNX model")?;
    let model =
        ModelProto::parse_from_bytes(&bytes).with_context(|| format!("{} is not an ONNX model", path.display()))?;
    let graph = model
        .graph
        .as_ref()
        .with_context(|| format!("{}: no graph", path.display()))?;
    let port = |v: &onnx_ir::ValueInfoProto| Port {
        name: v.name.clone(),
        dims: v
            .type_
            .tensor_type()
            .shape
            .dim
            .iter()
            .map(|d| {
                if d.has_dim_value() {
                    Dim::Fixed(d.dim_value())
                } else {
                    Dim::Symbolic(d.dim_param().to_string())
                }
            })
            .collect(),
    };
    let mut operators: Vec<String> = Vec::new();
    for node in &graph.node {
        if !operators.contains(&node.op_type) {
            operators.push(node.op_type.clone());
        }
    }
    // float32 initializers are the weights; int64 ones are shape constants of reshapes.
    let weights: Vec<_> = graph.initializer.iter().filter(|t| t.data_type == FLOAT).collect();
    let values = weights
        .iter()
        .map(|t| t.dims.iter().product::<i64>().max(0) as usize)
        .sum();
    Ok(Description {
        opset: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty())
            .map_or(0, |o| o.version),
        inputs: graph.input.iter().map(port).collect(),
        outputs: graph.output.iter().map(port).collect(),
        operators,
        weights: (weights.len(), values),
        producer: format!("{} {}", model.producer_name, model.producer_version),
        metadata: model
            .metadata_props
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
    })
}

impl Port {
    /// `images: [batch, 1, 28, 28]`.
    pub fn line(&self) -> String {
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => n.to_string(),
                Dim::Symbolic(symbol) => symbol.clone(),
            })
            .collect();
        format!("{}: [{}]", self.name, dims.join(", "))
    }
}
