//! The conformance runner: interprets the random tensor programs of a conformance file (format:
//! `../shared/conformance/README.md`) with the library's public ops, applies each case's chain
//! of transforms, and compares with the expected results (torch.func's).
//!
//! ```text
//! cargo run --release --example conformance -- ../shared/conformance/cases.json
//! cargo run --release --example conformance          # the copy in tests/data
//! cargo run --release --example conformance -- --jit FILE        # jit around each chain
//! cargo run --release --example conformance -- --jit-inner FILE  # jit around each program
//! ```
//! Prints one line per failing case (its name and what differed) and ends with
//! `N passed, M failed`; exits with status 1 if any case failed.

mod runner;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = if args.iter().any(|a| a == "--jit") {
        runner::Mode::JitOutermost
    } else if args.iter().any(|a| a == "--jit-inner") {
        runner::Mode::JitInnermost
    } else {
        runner::Mode::Eager
    };
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "tests/data/conformance_cases.json".into());
    match runner::run_file(&path, mode) {
        Ok((passed, failures)) => {
            for f in &failures {
                println!("{f}");
            }
            println!("{passed} passed, {} failed", failures.len());
            if !failures.is_empty() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
