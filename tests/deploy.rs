//! Static checks of the deployment files (no Docker daemon or Kubernetes cluster here): the
//! Kubernetes manifests and compose file parse and carry what docs/how-to/deploy.md promises, the
//! Dockerfile has its stages, user and health check, and systemd accepts the units; and the
//! production build (`--no-default-features`) leaves the Stripe stand-in out.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde::Deserialize;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML document of `path`, merge keys (`<<`) applied as compose does, as JSON values.
fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let fail = |e: serde_yaml::Error| -> ! { panic!("{}: {e}", path.display()) };
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let mut yaml = serde_yaml::Value::deserialize(doc).unwrap_or_else(|e| fail(e));
            yaml.apply_merge().unwrap_or_else(|e| fail(e));
            serde_json::to_value(yaml).expect("YAML as JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn manifests() -> Vec<Value> {
    let dir = root().join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/k8s")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files.iter().flat_map(|p| yaml_documents(p)).collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

fn containers(pod_spec: &Value) -> &Vec<Value> {
    pod_spec["containers"].as_array().expect("containers")
}

/// `"250m"` → 0.25, `"1"` → 1.0.
fn cpu(q: &Value) -> f64 {
    let s = q
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| q.to_string());
    match s.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().unwrap() / 1000.0,
        None => s.parse().unwrap(),
    }
}

fn env_names(container: &Value) -> BTreeSet<String> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_api_and_worker_deployments_probe_readyz_and_healthz_and_request_resources() {
    let docs = manifests();
    for name in ["h2s-api", "h2s-worker"] {
        let deployment = find(&docs, "Deployment", name);
        let pod = &deployment["spec"]["template"]["spec"];
        let c = &containers(pod)[0];
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{name}");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{name}");
        let requests = &c["resources"]["requests"];
        assert!(cpu(&requests["cpu"]) > 0.0, "{name} requests cpu");
        assert!(requests["memory"].is_string(), "{name} requests memory");
        assert!(
            c["resources"]["limits"]["memory"].is_string(),
            "{name} memory limit"
        );
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        // The selector matches the pods, and a PodDisruptionBudget keeps one running.
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        let selector = &deployment["spec"]["selector"]["matchLabels"];
        assert_eq!(labels, selector, "{name}");
        let pdb = find(&docs, "PodDisruptionBudget", name);
        assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector, "{name}");
        assert!(pdb["spec"]["minAvailable"].as_i64().unwrap_or(0) >= 1);
    }
}

#[test]
fn termination_grace_periods_exceed_the_longest_drain() {
    let docs = manifests();
    let grace = |name: &str| {
        find(&docs, "Deployment", name)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(30)
    };
    // The worker lets tasks in flight finish for SHUTDOWN_GRACE, then hands the rest back.
    let drain = h2s_dispatch::queue::SHUTDOWN_GRACE.as_secs();
    assert!(
        grace("h2s-worker") >= drain + 10,
        "worker grace vs {drain}s"
    );
    // The api's in-flight requests are bounded by REQUEST_TIMEOUT_MS, after a preStop sleep.
    let api = find(&docs, "Deployment", "h2s-api");
    let c = &containers(&api["spec"]["template"]["spec"])[0];
    let timeout_ms: u64 = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "REQUEST_TIMEOUT_MS")
        .and_then(|e| e["value"].as_str())
        .expect("the api sets REQUEST_TIMEOUT_MS")
        .parse()
        .unwrap();
    let pre_stop = 5;
    assert!(grace("h2s-api") > timeout_ms / 1000 + pre_stop);
}

#[test]
fn the_reconcile_cronjob_runs_one_sweep_and_never_two_at_once() {
    let docs = manifests();
    let cron = find(&docs, "CronJob", "h2s-reconcile");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let c = &containers(pod)[0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args[0], "reconcile");
    assert!(args.contains(&"--once"), "{args:?}");
    assert!(cpu(&c["resources"]["requests"]["cpu"]) > 0.0);
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30) >= 30);
}

#[test]
fn secrets_reach_the_pods_as_files_named_in_the_secret_template() {
    let docs = manifests();
    let secret = find(&docs, "Secret", "h2s-dispatch");
    let keys: BTreeSet<&str> = secret["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut pods = vec![];
    for name in ["h2s-api", "h2s-worker"] {
        pods.push(&find(&docs, "Deployment", name)["spec"]["template"]["spec"]);
    }
    pods.push(
        &find(&docs, "CronJob", "h2s-reconcile")["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    );
    for pod in pods {
        let c = &containers(pod)[0];
        let names = env_names(c);
        for secret_env in [
            "DATABASE_URL",
            "STRIPE_SECRET_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "ADMIN_TOKEN",
            "NOTIFY_WEBHOOK_URL",
        ] {
            assert!(
                !names.contains(secret_env),
                "{secret_env} as a plain variable"
            );
        }
        for e in c["env"].as_array().unwrap() {
            let name = e["name"].as_str().unwrap();
            if let Some(file) = name.strip_suffix("_FILE").and(e["value"].as_str()) {
                let key = file.rsplit('/').next().unwrap();
                assert!(keys.contains(key), "{name} reads {key}, not in the Secret");
            }
        }
    }
}

#[test]
fn the_compose_file_runs_postgres_api_worker_reconciler_and_the_stand_in() {
    let compose = &yaml_documents(&root().join("compose.yaml"))[0];
    let services = compose["services"].as_object().expect("services");
    for s in ["postgres", "api", "worker", "reconciler", "standin"] {
        assert!(services.contains_key(s), "service {s}");
    }
    let command = |s: &str| compose["services"][s]["command"][0].clone();
    assert_eq!(command("api"), "api");
    assert_eq!(command("worker"), "worker");
    assert_eq!(command("reconciler"), "reconcile");
    // The YAML merge keys gave each process its database settings.
    for s in ["api", "worker", "reconciler"] {
        let env = &compose["services"][s]["environment"];
        assert!(env["DATABASE_URL"].is_string(), "{s}: {env}");
    }
    assert_eq!(
        compose["services"]["worker"]["environment"]["STRIPE_API_BASE"],
        "http://standin:12111"
    );
    assert_eq!(
        compose["services"]["api"]["healthcheck"]["test"][3],
        "http://127.0.0.1:8080/readyz"
    );
}

#[test]
fn the_dockerfile_builds_the_three_binaries_into_a_non_root_image_with_a_health_check() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .filter_map(|l| l.split(" AS ").nth(1))
        .collect();
    assert_eq!(
        stages.last(),
        Some(&"runtime"),
        "the runtime is the default target"
    );
    assert!(stages.contains(&"build") && stages.contains(&"standin"));
    let runtime = &text[text.rfind("AS runtime").unwrap()..];
    assert!(runtime.contains("USER 10001"), "non-root");
    assert!(runtime.contains("HEALTHCHECK"));
    for bin in ["api", "worker", "reconcile"] {
        assert!(
            runtime.contains(&format!("/out/{bin}")),
            "{bin} in the image"
        );
    }
    // What the Dockerfile copies from the context exists.
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(root().join(src).exists(), "COPY {src}: missing");
        }
    }
}

/// The crates the root package's library and binaries are built with (no dev-dependencies), by
/// `cargo tree` from the lockfile alone: no network, no build.
fn normal_dependencies(features: &[&str]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .arg("tree")
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .args([
            "--locked",
            "--offline",
            "-e",
            "normal",
            "-p",
            "h2s-dispatch",
        ])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(features)
        .output()
        .expect("cargo tree runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_production_build_leaves_the_stripe_stand_in_out() {
    let production = normal_dependencies(&["--no-default-features"]);
    assert!(production.contains("h2s-dispatch") && production.contains("axum"));
    assert!(
        !production.contains("stripe-standin"),
        "--no-default-features still pulls in the stand-in"
    );

    let default = normal_dependencies(&[]);
    assert!(
        default.contains("stripe-standin"),
        "the default `dev` feature (api --dev) brings the stand-in"
    );

    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let builds: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.contains("cargo build"))
        .collect();
    assert!(!builds.is_empty());
    for build in builds {
        assert!(
            build.contains("--no-default-features"),
            "the image builds without the `dev` feature: {build}"
        );
    }
}

#[test]
fn systemd_accepts_the_unit_files() {
    let Ok(status) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: unit files not verified");
        return;
    };
    assert!(status.status.success());
    let dir = std::env::temp_dir().join(format!("h2s-units-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut units = vec![];
    for entry in std::fs::read_dir(root().join("deploy/systemd")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.ends_with(".service") || name.ends_with(".timer")) {
            continue;
        }
        // The real binaries, where this build put them (verify checks they exist).
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/api", env!("CARGO_BIN_EXE_api"))
            .replace("/usr/local/bin/worker", env!("CARGO_BIN_EXE_worker"))
            .replace("/usr/local/bin/reconcile", env!("CARGO_BIN_EXE_reconcile"));
        std::fs::write(dir.join(&name), text).unwrap();
        units.push(dir.join(&name));
    }
    assert!(units.len() >= 4, "api, worker, reconcile service and timer");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
