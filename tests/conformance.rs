//! The 300 conformance programs of `tests/data/conformance_cases.json` (a copy of the
//! project's `../shared/conformance/cases.json`, with its README beside it: random tensor programs
//! under chains of transforms, with torch.func's results) must all pass.

#[allow(dead_code)]
#[path = "../examples/conformance/runner.rs"]
mod runner;

fn all_pass(mode: runner::Mode) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conformance_cases.json"
    );
    let (passed, failures) = runner::run_file(path, mode).expect("conformance file readable");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, 300, "expected 300 cases");
}

#[test]
fn all_conformance_cases_pass() {
    all_pass(runner::Mode::Eager);
}

/// Each chain of transforms inside `jit`, traced and then replayed.
#[test]
fn all_conformance_cases_pass_under_jit() {
    all_pass(runner::Mode::JitOutermost);
}

/// `jit` around each program, under its chain of transforms.
#[test]
fn all_conformance_cases_pass_with_jit_innermost() {
    all_pass(runner::Mode::JitInnermost);
}
