//! The conformance runner: interprets the random tensor programs of a conformance file (format:
//! `../shared/conformance/README.md`) with the library's public ops, applies each case's chain
//! of transforms, and compares with the expected results (torch.func's).
//!
//! ```text
//! cargo run --release --example conformance -- ../shared/conformance/cases.json
//! cargo run --release --example conformance          # the copy in tests/data
//! ```
//! Prints one line per failing case (its name and what differed) and ends with
//! `N passed, M failed`; exits with status 1 if any case failed.

mod runner;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/data/conformance_cases.json".into());
    match runner::run_file(&path) {
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
