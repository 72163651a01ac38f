//! Every number the calculus examples print, asserted against its analytic value; every
//! derivative compared with autodiff and with a finite difference.
//!
//! Tolerances: tensors hold f32 (relative precision ~1.2e-7), so values of size up to ~60 are
//! checked to 1e-4 absolute and derivatives of size ~1 to 1e-5; f64 formulas against central
//! differences (h = 1e-5, truncation ~1e-10) to 1e-7.

use burn::tensor::Device;
use calculus::common::{central_difference, linspace};
use calculus::{chain, conv, derivative, descent, normal, partial, sigmoid, surface, taylor};

fn flex() -> Device {
    Device::flex()
}

#[test]
fn sigmoid_derivative_by_autodiff_equals_the_formula() {
    let r = sigmoid::run(&flex(), 201);
    let i0 = r.xs.iter().position(|&x| x == 0.0).unwrap();
    assert!((r.autodiff[i0] - 0.25).abs() < 1e-6);
    assert!((r.values[i0] - 0.5).abs() < 1e-7);
    assert!(r.max_error < 1e-6, "{}", r.max_error);
    for x in [-4.0, -0.3, 0.0, 2.5] {
        let fd = central_difference(sigmoid::sigma, x, 1e-5);
        assert!((fd - sigmoid::sigma(x) * (1.0 - sigmoid::sigma(x))).abs() < 1e-9);
    }
}

#[test]
fn power_rule_autodiff_and_finite_difference_agree() {
    let r = derivative::run(&flex(), 151);
    assert!(r.max_error < 1e-4, "{}", r.max_error);
    for x in linspace(-10.0, 5.0, 7) {
        assert!((central_difference(derivative::f, x, 1e-5) - derivative::f_prime(x)).abs() < 1e-7);
    }
}

#[test]
fn gradient_descent_reaches_the_minimum_and_follows_the_closed_form() {
    let path = descent::run(&flex(), 0.0, 0.1, 100).unwrap();
    assert_eq!(path.len(), 101);
    let (x, fx) = path[100];
    assert!((x + 2.5).abs() < 1e-4 && (fx + 0.25).abs() < 1e-4, "{x} {fx}");
    // x_k = −2.5 (1 − 0.8^k): each step shrinks the distance to −2.5 by |1 − 2·0.1|.
    for (k, &(x, _)) in path.iter().enumerate().take(10) {
        assert!((x + 2.5 * (1.0 - 0.8f64.powi(k as i32))).abs() < 1e-5, "step {k}: {x}");
    }
}

#[test]
fn a_diverging_learning_rate_is_reported_not_printed_as_nan() {
    let err = descent::run(&flex(), 0.0, 1.5, 100).unwrap_err().to_string();
    assert!(err.contains("diverged") && err.contains("learning rate 1.5"), "{err}");
    assert!(descent::run(&flex(), 0.0, -0.1, 10).is_err());
    assert!(descent::run(&flex(), 0.0, f64::NAN, 10).is_err());
}

#[test]
fn surface_gradient_by_autodiff_equals_the_chain_rule_and_is_undefined_at_the_origin() {
    let r = surface::run(&flex(), 30);
    assert_eq!(r.z.len(), 900);
    assert!(r.max_error < 1e-5, "{}", r.max_error);
    for (x, y) in [(1.0, 2.0), (-3.0, 0.5), (0.2, -5.0)] {
        let (gx, gy) = surface::gradient(x, y).unwrap();
        assert!((central_difference(|t| surface::f(t, y), x, 1e-5) - gx).abs() < 1e-8);
        assert!((central_difference(|t| surface::f(x, t), y, 1e-5) - gy).abs() < 1e-8);
    }
    assert_eq!(surface::gradient(0.0, 0.0), None);
    let at_origin = surface::autodiff_gradient(&flex(), &[(0.0, 0.0)])[0];
    assert!(!at_origin.0.is_finite(), "autodiff at the origin: {at_origin:?}");
}

fn point(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
}

#[test]
fn symbolic_partials_match_autodiff_and_finite_differences() {
    let r = partial::run(&flex(), "x^2 + 2*x*y + y^2", &point(&[("x", 1.0), ("y", 2.0)])).unwrap();
    assert_eq!(r.value, 9.0);
    for p in &r.partials {
        assert!((p.symbolic_value - 6.0).abs() < 1e-12, "{p:?}"); // 2x + 2y at (1, 2)
        assert!((p.autodiff - 6.0).abs() < 1e-5, "{p:?}");
    }
    // A second expression: every partial three ways.
    let expr = "sin(x)*exp(y) + x/y";
    let at = [0.5, -1.5];
    let r = partial::run(&flex(), expr, &point(&[("x", at[0]), ("y", at[1])])).unwrap();
    let f = |x: f64, y: f64| x.sin() * y.exp() + x / y;
    let fd = [
        central_difference(|t| f(t, at[1]), at[0], 1e-5),
        central_difference(|t| f(at[0], t), at[1], 1e-5),
    ];
    for (p, fd) in r.partials.iter().zip(fd) {
        assert!((p.symbolic_value - fd).abs() < 1e-7, "{p:?} vs {fd}");
        assert!((p.autodiff - p.symbolic_value).abs() < 1e-5, "{p:?}");
    }
}

#[test]
fn bad_expressions_and_points_are_clear_errors() {
    let at = point(&[("x", 1.0), ("y", 2.0)]);
    let err = format!("{:#}", partial::run(&flex(), "x^^2 +", &at).unwrap_err());
    assert!(err.contains("cannot parse"), "{err}");
    let err = format!("{:#}", partial::run(&flex(), "x*z", &at).unwrap_err());
    assert!(err.contains("no value for `z`"), "{err}");
    let err = format!("{:#}", partial::run(&flex(), "x^2", &at).unwrap_err());
    assert!(err.contains("`y` is not a variable"), "{err}");
    assert!(partial::parse_assignment("x=abc").is_err());
    assert_eq!(partial::parse_assignment("y=-2.5").unwrap(), ("y".to_string(), -2.5));
}

#[test]
fn chain_rule_by_hand_equals_autodiff_and_finite_differences() {
    let r = chain::run(&flex(), 2.0, 3.0, 4.0);
    let y = |w1: f64, w2: f64| sigmoid::sigma(w2 * sigmoid::sigma(w1 * 2.0));
    assert!((r.y - y(3.0, 4.0)).abs() < 1e-15);
    assert!((r.dy_dw2 - central_difference(|w| y(3.0, w), 4.0, 1e-5)).abs() < 1e-9);
    assert!((r.dy_dw1 - central_difference(|w| y(w, 4.0), 3.0, 1e-5)).abs() < 1e-9);
    assert!((r.dy_dw2 - r.dy_dw2_autodiff).abs() < 1e-6, "{r:?}");
    assert!((r.dy_dw1 - r.dy_dw1_autodiff).abs() < 1e-6, "{r:?}");
    assert!((r.y - r.y_autodiff).abs() < 1e-6);
}

#[test]
fn normal_probability_by_quadrature_converges_to_the_error_function() {
    let r = normal::run(&flex(), -1.0, 1.0, 0.0, 1.0).unwrap();
    assert!((r.exact - 0.682_689_492_137).abs() < 1e-11);
    let trap: Vec<f64> = r.rows.iter().map(|row| (row.trapezoid - r.exact).abs()).collect();
    assert!(
        trap.windows(2).all(|w| w[1] < w[0]),
        "trapezoid errors must shrink: {trap:?}"
    );
    // Trapezoid error is O(h²): doubling n divides it by ~4.
    assert!((trap[3] / trap[4] - 4.0).abs() < 0.1, "{trap:?}");
    let simpson_64 = r.rows.iter().find(|row| row.n == 64).unwrap().simpson;
    assert!((simpson_64 - r.exact).abs() < 1e-8);
    let shifted = normal::run(&flex(), 9.0, 11.0, 10.0, 2.0).unwrap();
    assert!((shifted.exact - normal::exact(-0.5, 0.5, 0.0, 1.0)).abs() < 1e-12);
    assert!(
        normal::run(&flex(), -1.0, 1.0, 0.0, 0.0)
            .unwrap_err()
            .to_string()
            .contains("σ must be positive")
    );
    assert!(normal::run(&flex(), 1.0, -1.0, 0.0, 1.0).is_err());
}

#[test]
fn taylor_errors_equal_the_analytic_remainders() {
    // On [−2, 2] the worst point is x = 2, where every term is positive:
    // max error = e² − Pₙ(2): e² − 1, e² − 5, e² − 7 for 1, 3, 5 terms.
    let r = taylor::run(&flex(), &[1, 3, 5], 201);
    let e2 = 2f64.exp();
    for (a, expect) in r.approximations.iter().zip([e2 - 1.0, e2 - 5.0, e2 - 7.0]) {
        assert!(
            (a.max_error - expect).abs() < 1e-5,
            "{} terms: {} vs {expect}",
            a.terms,
            a.max_error
        );
    }
    let many = taylor::run(&flex(), &[12], 201);
    assert!(many.approximations[0].max_error < 1e-4);
}

#[test]
fn convolution_by_hand_equals_burn_and_its_kernel_gradient_equals_autodiff() {
    let img = conv::example_image();
    let hand = conv::correlate(&img, &conv::SOBEL_X);
    let (burn_out, burn_grad) = conv::burn_conv(&flex(), &img, &conv::SOBEL_X);
    assert_eq!((hand.h, hand.w), (8, 8));
    assert!(hand.px.iter().zip(&burn_out.px).all(|(a, b)| (a - b).abs() < 1e-5));
    let g = conv::kernel_gradient(&img);
    for (a, b) in g.iter().flatten().zip(burn_grad.iter().flatten()) {
        assert!((a - b).abs() < 1e-4, "{g:?} vs {burn_grad:?}");
    }
    // The output's sum is linear in the kernel: a finite difference is exact up to rounding.
    let sum = |k: &[[f64; 3]; 3]| conv::correlate(&img, k).px.iter().sum::<f64>();
    let mut k = conv::SOBEL_X;
    k[1][2] += 0.5;
    assert!(((sum(&k) - sum(&conv::SOBEL_X)) / 0.5 - g[1][2]).abs() < 1e-9);
    // A vertical edge lights up Sobel-X; the flat dark corner does not.
    assert_eq!(hand.px[0], 0.0);
    assert!(hand.px[3].abs() > 2.0);
}
