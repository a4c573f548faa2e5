use super::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strata.example.toml")
}

/// The settings as a table, for comparing whole configs.
fn table(c: &Config) -> toml::Table {
    toml::Table::try_from(c).expect("serializes")
}

fn load(file: Option<&Path>, o: &Overrides, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::load_with_env(file, o, move |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let file = dir.path().join("c.toml");
    std::fs::write(&file, text).expect("writes");
    file
}

#[test]
fn the_example_config_parses_and_matches_the_defaults() {
    let c = load(Some(&example()), &Overrides::default(), &[]).expect("parses");
    let d = load(None, &Overrides::default(), &[]).expect("defaults");
    assert_eq!(table(&c), table(&d), "the example documents the defaults");
    assert!(
        c.notes.is_empty(),
        "the example uses no old names: {:?}",
        c.notes
    );
}

#[test]
fn the_example_documents_every_key_in_its_section() {
    let text = std::fs::read_to_string(example()).expect("reads");
    let parsed: toml::Table = toml::from_str(&text).expect("parses");
    let mut documented: Vec<String> = layers::leaves(&parsed)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // Keys without a default are shown commented out.
    documented.extend(OPTIONAL_KEYS.iter().map(|k| k.to_string()));
    let mut all = keys();
    documented.sort_unstable();
    all.sort_unstable();
    assert_eq!(documented, all);
    for key in OPTIONAL_KEYS {
        assert!(
            text.contains(&format!("\n# {key} = ")),
            "{key} has its own line"
        );
    }
}

#[test]
fn every_key_has_its_own_environment_variable() {
    let all = keys();
    let mut names: Vec<String> = all.iter().map(|k| env_name(k)).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len(), "two keys share a variable");
    // Old flat names of earlier releases still reach their keys, and none of them is the
    // variable of some other key.
    for (old, new) in legacy::MOVED {
        assert!(all.iter().any(|k| k == new), "{new} is a key");
        let old_env = env_name(old);
        assert!(
            old_env == env_name(new) || !all.iter().any(|k| env_name(k) == old_env),
            "{old_env} is ambiguous"
        );
    }
}

#[test]
fn sections_deserialize_into_each_roles_own_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        &dir,
        "listen = \"127.0.0.1:9000\"\nroles = [\"meta\", \"ingest\"]\n\
         [ingest]\nflush-interval = \"1s\"\nretain-bytes = \"1MiB\"\n\
         [cache]\ncold-read-concurrency = 3\n\
         [compactor]\nrequests-in-flight = 2\n\
         [meta]\nelection-timeout = \"500ms\"\n\
         [prices]\nstorage-gib-month = 0.02\n",
    );
    let c = load(Some(&file), &Overrides::default(), &[]).expect("loads");
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.roles, vec![Role::Meta, Role::Ingest]);
    assert_eq!(c.ingest.flush_interval, Duration::from_secs(1));
    assert_eq!(c.ingest.retain_bytes, 1 << 20);
    assert_eq!(
        c.ingest.flush_bytes,
        8 << 20,
        "unset keys keep the role's default"
    );
    assert_eq!(c.cache.cold_concurrency, 3);
    assert_eq!(c.compactor.max_in_flight, 2);
    assert_eq!(c.meta.election_timeout, Duration::from_millis(500));
    assert!((c.prices.storage_gib_month - 0.02).abs() < 1e-12);
    assert!(c.object_store.starts_with("file:///"));
}

#[test]
fn environment_variables_override_every_key_and_flags_override_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        &dir,
        "log-format = \"json\"\n[cache]\nmemory-bytes = \"1MiB\"\n",
    );
    let o = Overrides {
        flush_interval: Some("50ms".into()),
        set: vec!["compactor.gc-grace=7s".into()],
        ..Overrides::default()
    };
    let env = [
        ("STRATA_CACHE_MEMORY_BYTES", "1GiB"),
        ("STRATA_CACHE_COLD_READ_CONCURRENCY", "3"),
        ("STRATA_ROLES", "meta,ingest"),
        ("STRATA_PRICES_STORAGE_GIB_MONTH", "0.02"),
        ("STRATA_INGEST_FLUSH_BYTES", "1048576"),
        ("STRATA_INGEST_FLUSH_INTERVAL", "1s"),
        ("STRATA_COMPACTOR_GC_GRACE", "1m"),
        ("STRATA_URL", "not a config key"),
        ("STRATA_DATA_DIR", "2"),
        ("STRATA_NODE_ID", "7"),
    ];
    let c = load(Some(&file), &o, &env).expect("loads");
    assert_eq!(c.cache.memory_bytes, 1 << 30);
    assert_eq!(c.cache.cold_concurrency, 3);
    assert_eq!(
        c.data_dir,
        PathBuf::from("2"),
        "a number where a path goes is a path"
    );
    assert_eq!(c.node_id, Some(NodeId(7)));
    assert_eq!(c.roles, vec![Role::Meta, Role::Ingest]);
    assert!((c.prices.storage_gib_month - 0.02).abs() < 1e-12);
    assert_eq!(c.ingest.flush_bytes, 1 << 20);
    assert_eq!(
        c.ingest.flush_interval,
        Duration::from_millis(50),
        "flags win"
    );
    assert_eq!(c.compactor.gc_grace, Duration::from_secs(7), "--set wins");
    assert_eq!(
        c.log_format,
        LogFormat::Json,
        "the file's value stays when no variable is set"
    );
}

#[test]
fn the_flat_keys_of_earlier_releases_still_work_and_say_their_new_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        &dir,
        "flush-interval = \"1s\"\nhot-retain-bytes = \"1MiB\"\ncompactor-interval = \"5s\"\n\
         price-put-requests-per-1000 = 0.01\n",
    );
    let env = [
        ("STRATA_GC_GRACE", "9s"),
        ("STRATA_COLD_READ_CONCURRENCY", "5"),
    ];
    let o = Overrides {
        set: vec!["archiver-zstd-level=5".into()],
        ..Overrides::default()
    };
    let c = load(Some(&file), &o, &env).expect("loads");
    assert_eq!(c.ingest.flush_interval, Duration::from_secs(1));
    assert_eq!(c.ingest.retain_bytes, 1 << 20);
    assert_eq!(c.compactor.interval, Duration::from_secs(5));
    assert!((c.prices.put_per_1000 - 0.01).abs() < 1e-12);
    assert_eq!(c.compactor.gc_grace, Duration::from_secs(9));
    assert_eq!(c.cache.cold_concurrency, 5);
    assert_eq!(c.archiver.zstd_level, 5);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("hot-retain-bytes is now retain-bytes in [ingest]")),
        "{:?}",
        c.notes
    );
    // The new name of a variable wins over the old one.
    let c = load(
        None,
        &Overrides::default(),
        &[
            ("STRATA_GC_GRACE", "9s"),
            ("STRATA_COMPACTOR_GC_GRACE", "3s"),
        ],
    )
    .expect("loads");
    assert_eq!(c.compactor.gc_grace, Duration::from_secs(3));
    // One setting under both names in one file is refused.
    let file = write(
        &dir,
        "flush-bytes = \"1MiB\"\n[ingest]\nflush-bytes = \"2MiB\"\n",
    );
    let e = load(Some(&file), &Overrides::default(), &[]).expect_err("twice");
    assert!(e.to_string().contains("ingest.flush-bytes"), "{e}");
}

#[test]
fn bad_values_are_refused_with_the_key_and_its_source_named() {
    for (o, needle) in [
        (
            Overrides {
                flush_bytes: Some("8 lots".into()),
                ..Default::default()
            },
            "ingest.flush-bytes (--flush-bytes)",
        ),
        (
            Overrides {
                roles: Some("meta,brokers".into()),
                ..Default::default()
            },
            "brokers",
        ),
        (
            Overrides {
                listen: Some("nowhere".into()),
                ..Default::default()
            },
            "listen (--listen)",
        ),
        (
            Overrides {
                node_id: Some(0),
                ..Default::default()
            },
            "node-id",
        ),
        (
            Overrides {
                meta_peers: Some("1:host".into()),
                ..Default::default()
            },
            "ID=HOST:PORT",
        ),
        (
            Overrides {
                set: vec!["ingest.flush-interval".into()],
                ..Default::default()
            },
            "SECTION.KEY=VALUE",
        ),
        (
            Overrides {
                set: vec!["cache.block-bytes=1GiB".into()],
                ..Default::default()
            },
            "cache.block-bytes (--set cache.block-bytes): must be between 64KiB and 64MiB",
        ),
    ] {
        let e = load(None, &o, &[]).expect_err("refused").to_string();
        assert!(e.contains(needle), "{e} should mention {needle}");
    }
    for (name, value, needle) in [
        (
            "STRATA_CACHE_COLD_READ_CONCURRENCY",
            "lots",
            "cache.cold-read-concurrency (STRATA_CACHE_COLD_READ_CONCURRENCY)",
        ),
        (
            "STRATA_COLD_READ_CONCURRENCY",
            "0",
            "cache.cold-read-concurrency (STRATA_COLD_READ_CONCURRENCY): must be at least 1",
        ),
        ("STRATA_COMPACTOR_GC_GRACE", "soon", "compactor.gc-grace"),
        (
            "STRATA_PRICES_PUT_REQUESTS_PER_1000",
            "-1",
            "prices.put-requests-per-1000 (STRATA_PRICES_PUT_REQUESTS_PER_1000): must be a price",
        ),
        ("STRATA_INGEST_FLUSH_INTERVAL", "0ms", "must be above zero"),
        (
            "STRATA_META_ELECTION_TIMEOUT",
            "10ms",
            "between 60ms and 1m",
        ),
    ] {
        let e = load(None, &Overrides::default(), &[(name, value)])
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains(needle),
            "{name}={value}: {e} should mention {needle}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (text, needle) in [
        (
            "[ingest]\nflush-intervall = \"1s\"\n",
            "ingest.flush-intervall",
        ),
        (
            "flush-intervall = \"1s\"\n",
            "unknown field `flush-intervall`",
        ),
        (
            "[ingset]\nflush-interval = \"1s\"\n",
            "unknown field `ingset`",
        ),
        (
            "[cache]\ncold-read-concurrency = \"eight\"\n",
            "cache.cold-read-concurrency (in ",
        ),
        (
            "cache-block-bytes = \"1GiB\"\n",
            "cache.block-bytes (cache-block-bytes in ",
        ),
        ("[archiver]\nzstd-level = 30\n", "archiver.zstd-level"),
    ] {
        let file = write(&dir, text);
        let e = load(Some(&file), &Overrides::default(), &[])
            .expect_err("refused")
            .to_string();
        assert!(e.contains(needle), "{text:?}: {e} should mention {needle}");
    }
}

#[test]
fn tls_files_that_do_not_load_stop_the_node_naming_their_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("writes");
    let token = dir.path().join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").expect("writes");
    let missing = dir.path().join("missing.pem");
    let with = |cert: Option<&Path>, key: Option<&Path>, client_ca: Option<&Path>| Overrides {
        tls_cert_file: cert.map(Path::to_path_buf),
        tls_key_file: key.map(Path::to_path_buf),
        tls_client_ca_file: client_ca.map(Path::to_path_buf),
        auth_bootstrap_token_file: Some(token.clone()),
        ..Default::default()
    };
    for (o, needle) in [
        (
            with(Some(&missing), Some(&junk), None),
            "tls-cert-file (--tls-cert-file): cannot read the certificate file",
        ),
        (
            with(Some(&junk), Some(&junk), None),
            "tls-cert-file (--tls-cert-file): the certificate file holds no PEM certificate",
        ),
        (with(Some(&junk), None, None), "tls-key-file"),
        (with(None, Some(&junk), None), "tls-cert-file"),
        (
            with(None, None, Some(&junk)),
            "tls-client-ca-file (--tls-client-ca-file): client certificates are part of HTTPS",
        ),
        (
            Overrides {
                tls_ca_file: Some(junk.clone()),
                ..Default::default()
            },
            "tls-ca-file (--tls-ca-file): holds no PEM certificate",
        ),
    ] {
        let e = load(None, &o, &[]).expect_err("refused").to_string();
        assert!(e.contains(needle), "{e} should mention {needle}");
    }
}
