//! Symbolic partial derivatives of an expression the user types, by `exmex`, evaluated at a
//! point and checked there against burn's autodiff of the same expression.
//!
//! The expression is parsed twice by exmex: once over `f64` (for the symbolic derivatives) and
//! once over [`Value`], a burn tensor or a constant, with the operators below, so that
//! evaluating it builds an autodiff graph.

use anyhow::{Context as _, Result, bail};
use burn::tensor::{Device, Tensor};
use exmex::{BinOp, Differentiate, Express, FlatEx, MakeOperators, Operator, ops_factory};
use gradlab::report::plot_lines;

use crate::common::{tensor, values};
use crate::plot;
use crate::report::Context;

/// A value in a tensor-valued expression: a literal constant, or a tensor on the device.
// A handful of values live at once while an expression evaluates; boxing the tensor would buy
// nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Value {
    /// A literal.
    Const(f64),
    /// A tensor (one element: the point).
    Tensor(Tensor<1>),
}

impl Default for Value {
    fn default() -> Self {
        Value::Const(0.0)
    }
}

impl std::str::FromStr for Value {
    type Err = std::num::ParseFloatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Value::Const)
    }
}

fn unary(v: Value, c: fn(f64) -> f64, t: fn(Tensor<1>) -> Tensor<1>) -> Value {
    match v {
        Value::Const(a) => Value::Const(c(a)),
        Value::Tensor(a) => Value::Tensor(t(a)),
    }
}

fn binary(
    a: Value,
    b: Value,
    cc: fn(f64, f64) -> f64,
    tc: fn(Tensor<1>, f64) -> Tensor<1>,
    ct: fn(f64, Tensor<1>) -> Tensor<1>,
    tt: fn(Tensor<1>, Tensor<1>) -> Tensor<1>,
) -> Value {
    match (a, b) {
        (Value::Const(a), Value::Const(b)) => Value::Const(cc(a, b)),
        (Value::Tensor(a), Value::Const(b)) => Value::Tensor(tc(a, b)),
        (Value::Const(a), Value::Tensor(b)) => Value::Tensor(ct(a, b)),
        (Value::Tensor(a), Value::Tensor(b)) => Value::Tensor(tt(a, b)),
    }
}

fn pow(a: Value, b: Value) -> Value {
    binary(
        a,
        b,
        f64::powf,
        // Whole exponents use repeated multiplication, which is defined for negative bases.
        |t, e| {
            if e.fract() == 0.0 {
                t.powi_scalar(e as i32)
            } else {
                t.powf_scalar(e)
            }
        },
        |c, t| t.mul_scalar(c.ln()).exp(),
        |a, b| a.powf(b),
    )
}

ops_factory!(
    TensorOps,
    Value,
    Operator::make_bin(
        "^",
        BinOp {
            apply: pow,
            prio: 4,
            is_commutative: false
        }
    ),
    Operator::make_bin(
        "*",
        BinOp {
            apply: |a, b| binary(
                a,
                b,
                |a, b| a * b,
                |t, c| t.mul_scalar(c),
                |c, t| t.mul_scalar(c),
                |a, b| a * b
            ),
            prio: 2,
            is_commutative: true
        }
    ),
    Operator::make_bin(
        "/",
        BinOp {
            apply: |a, b| binary(
                a,
                b,
                |a, b| a / b,
                |t, c| t.div_scalar(c),
                |c, t| t.recip().mul_scalar(c),
                |a, b| a / b
            ),
            prio: 3,
            is_commutative: false
        }
    ),
    Operator::make_bin_unary(
        "+",
        BinOp {
            apply: |a, b| binary(
                a,
                b,
                |a, b| a + b,
                |t, c| t.add_scalar(c),
                |c, t| t.add_scalar(c),
                |a, b| a + b
            ),
            prio: 0,
            is_commutative: true
        },
        |a| a
    ),
    Operator::make_bin_unary(
        "-",
        BinOp {
            apply: |a, b| binary(
                a,
                b,
                |a, b| a - b,
                |t, c| t.sub_scalar(c),
                |c, t| t.neg().add_scalar(c),
                |a, b| a - b
            ),
            prio: 1,
            is_commutative: false
        },
        |a| unary(a, |a| -a, |t| t.neg())
    ),
    Operator::make_unary("sin", |a| unary(a, f64::sin, |t| t.sin())),
    Operator::make_unary("cos", |a| unary(a, f64::cos, |t| t.cos())),
    Operator::make_unary("tan", |a| unary(a, f64::tan, |t| t.tan())),
    Operator::make_unary("exp", |a| unary(a, f64::exp, |t| t.exp())),
    Operator::make_unary("ln", |a| unary(a, f64::ln, |t| t.log())),
    Operator::make_unary("sqrt", |a| unary(a, f64::sqrt, |t| t.sqrt())),
    Operator::make_unary("tanh", |a| unary(a, f64::tanh, |t| t.tanh())),
    // The same constants as exmex's own f64 operators, so the symbolic and the autodiff
    // parse agree on what is a variable (`e*x` has one variable there: e is Euler's number).
    Operator::make_constant("PI", Value::Const(std::f64::consts::PI)),
    Operator::make_constant("π", Value::Const(std::f64::consts::PI)),
    Operator::make_constant("E", Value::Const(std::f64::consts::E)),
    Operator::make_constant("e", Value::Const(std::f64::consts::E)),
    Operator::make_constant("TAU", Value::Const(std::f64::consts::TAU)),
    Operator::make_constant("τ", Value::Const(std::f64::consts::TAU))
);

/// One variable's partial derivative.
#[derive(Debug, Clone)]
pub struct Partial {
    /// The variable.
    pub var: String,
    /// ∂f/∂var as exmex writes it.
    pub symbolic: String,
    /// The symbolic derivative evaluated at the point.
    pub symbolic_value: f64,
    /// burn's autodiff at the point.
    pub autodiff: f64,
}

/// f and its partials at a point.
#[derive(Debug, Clone)]
pub struct PartialReport {
    /// The expression as parsed.
    pub expression: String,
    /// f at the point.
    pub value: f64,
    /// One entry per variable, in exmex's (alphabetical) order.
    pub partials: Vec<Partial>,
}

// ANCHOR: run
/// Differentiate `expression` symbolically and check it against autodiff at `point`, given as
/// `name=value` pairs (every variable of the expression needs one).
pub fn run(device: &Device, expression: &str, point: &[(String, f64)]) -> Result<PartialReport> {
    let parsed = exmex::parse::<f64>(expression).map_err(|e| anyhow::anyhow!("cannot parse `{expression}`: {e}"))?;
    let vars: Vec<String> = parsed.var_names().to_vec();
    if vars.is_empty() {
        bail!("`{expression}` has no variables to differentiate by");
    }
    let mut at = Vec::with_capacity(vars.len());
    for v in &vars {
        let value = point
            .iter()
            .find(|(name, _)| name == v)
            .map(|(_, x)| *x)
            .with_context(|| format!("no value for `{v}`: pass --at {v}=<number>"))?;
        at.push(value);
    }
    if let Some((name, _)) = point.iter().find(|(name, _)| !vars.contains(name)) {
        bail!(
            "`{name}` is not a variable of `{expression}` (variables: {})",
            vars.join(", ")
        );
    }
    let value = parsed.eval(&at).map_err(|e| anyhow::anyhow!("{e}"))?;

    // Autodiff: the same text over tensors.
    let ad = device.clone().autodiff();
    let tensor_ex = FlatEx::<Value, TensorOps>::parse(expression)
        .map_err(|e| anyhow::anyhow!("cannot parse `{expression}` for autodiff: {e}"))?;
    let inputs: Vec<Tensor<1>> = at.iter().map(|&x| tensor(&[x], &ad).require_grad()).collect();
    let out = tensor_ex
        .eval(&inputs.iter().cloned().map(Value::Tensor).collect::<Vec<_>>())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let grads = match out {
        Value::Tensor(t) => Some(t.sum().backward()),
        Value::Const(_) => None,
    };

    let mut partials = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let d = parsed
            .clone()
            .partial(i)
            .map_err(|e| anyhow::anyhow!("∂/∂{var}: {e}"))?;
        // A derivative may have fewer variables than the expression (∂(a·x)/∂a = x): its
        // values are picked by name, not position.
        let d_at: Vec<f64> = d
            .var_names()
            .iter()
            .map(|n| vars.iter().position(|v| v == n).map_or(f64::NAN, |k| at[k]))
            .collect();
        let symbolic_value = d
            .eval(&d_at)
            .map_err(|e| anyhow::anyhow!("∂/∂{var} at the point: {e}"))?;
        let autodiff = grads
            .as_ref()
            .and_then(|g| inputs[i].grad(g))
            .map(|g| values(g)[0])
            .unwrap_or(0.0);
        partials.push(Partial {
            var: var.clone(),
            // exmex writes variables as `{x}`; show them as the user typed them.
            symbolic: d.unparse().replace(['{', '}'], ""),
            symbolic_value,
            autodiff,
        });
    }
    Ok(PartialReport {
        expression: parsed.unparse().to_string(),
        value,
        partials,
    })
}
// ANCHOR_END: run

/// Parse `name=value`.
pub fn parse_assignment(s: &str) -> Result<(String, f64), String> {
    let (name, value) = s.split_once('=').ok_or_else(|| format!("`{s}` is not name=value"))?;
    let value: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` in `{s}` is not a number"))?;
    Ok((name.trim().to_string(), value))
}

/// Print f and every partial derivative at the point, symbolically and by autodiff; draw
/// `partial.svg` (f along each variable's axis and its tangent there).
pub fn report(ctx: &Context, expression: &str, at: &[(String, f64)]) -> Result<()> {
    let r = run(ctx.device, expression, at)?;
    let names: Vec<String> = r.partials.iter().map(|p| p.var.clone()).collect();
    let point: Vec<f64> = names
        .iter()
        .map(|n| at.iter().find(|(m, _)| m == n).map_or(0.0, |(_, v)| *v))
        .collect();
    let shown = at
        .iter()
        .map(|(n, v)| format!("{n} = {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!("f = {}   at {shown}: f = {}", r.expression, r.value);
    for p in &r.partials {
        println!(
            "  ∂f/∂{} = {}   = {} (symbolic)   {} (autodiff)",
            p.var, p.symbolic, p.symbolic_value, p.autodiff
        );
    }
    ctx.plot("partial.svg", |p| {
        let parsed = exmex::parse::<f64>(expression)?;
        let f = |v: &[f64]| Express::eval(&parsed, v).unwrap_or(f64::NAN);
        let grads: Vec<f64> = r.partials.iter().map(|p| p.symbolic_value).collect();
        let lines = plot::tangent_lines(f, &point, &grads, &names, 1.0);
        plot_lines(
            p,
            &format!("f = {} near ({shown})", r.expression),
            "offset t",
            "f",
            &lines,
            false,
        )
    })
}
