use super::*;

#[test]
fn exit_codes_follow_the_kind_of_failure() {
    let api = |status| {
        anyhow::Error::new(ApiFailure {
            status,
            code: 0,
            message: String::new(),
        })
    };
    assert_eq!(exit_code(&api(404)), exit::NOT_FOUND);
    assert_eq!(exit_code(&api(409)), exit::CONFLICT);
    assert_eq!(exit_code(&api(503)), exit::UNAVAILABLE);
    assert_eq!(exit_code(&api(422)), exit::FAILED);
    let far = anyhow::Error::new(Unreachable {
        url: "http://x".into(),
        reason: "refused".into(),
    })
    .context("listing topics");
    assert_eq!(exit_code(&far), exit::UNAVAILABLE);
    assert_eq!(
        exit_code(&anyhow::Error::new(Usage("bad".into()))),
        exit::USAGE
    );
    assert_eq!(exit_code(&anyhow::anyhow!("other")), exit::FAILED);
}

#[test]
fn sizes_and_ages_read_well() {
    assert_eq!(bytes(512), "512 B");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(3 << 30), "3.0 GiB");
    assert_eq!(age(Duration::from_secs(59)), "59s");
    assert_eq!(age(Duration::from_secs(7200)), "2h");
}
