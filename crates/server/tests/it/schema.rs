//! Schema fuzzing: schemathesis (PyPI) against the live service's
//! /openapi.json, every operation, checking for server errors, responses
//! that break the schema, and undocumented status codes.

use std::process::Command;

use crate::common::{sqlite_db, Server};

#[ignore = "needs schemathesis: run scripts/test.sh"]
#[test]
fn schemathesis_finds_no_server_errors_schema_violations_or_undocumented_codes() {
    let st = crate::common::tool("CHITTYCHARGE_SCHEMATHESIS", "schemathesis (PyPI)");
    let server = Server::start_with(
        sqlite_db(),
        &[("CHITTYCHARGE_AUTH_FAILURES_PER_MINUTE", "1000000"), ("STRIPE_WEBHOOK_SECRET", "whsec_schemathesis")],
    );
    let out = Command::new(st)
        .args(["run", &format!("{}/openapi.json", server.base)])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection"])
        .args(["-H", &format!("ChittyID-Token: {}", server.token)])
        .args(["--max-examples", "25", "--seed", "1", "--workers", "1"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    let tail: String =
        report.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    println!("{tail}");
    assert!(out.status.success(), "schemathesis found failures:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    // "Selected: 54/54" … "Tested: 54": every operation in the document.
    let count = |label: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|n| n.split('/').next_back().unwrap_or(n).trim().to_string())
    };
    let (selected, tested) = (count("Selected: "), count("Tested: "));
    assert!(
        selected.is_some() && selected == tested,
        "every operation was tested ({tested:?} of {selected:?}):\n{tail}"
    );
}
