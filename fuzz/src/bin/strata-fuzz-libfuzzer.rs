//! The fuzz targets under libFuzzer, guided by coverage: `scripts/fuzz --guided TARGET SECONDS`
//! builds this binary with the sanitizer-coverage passes of stable rustc and runs it with
//! `STRATA_FUZZ_TARGET=TARGET` and a corpus under `target/fuzz-corpus/TARGET`, which starts
//! from the target's seeds. Options after the binary's name are libFuzzer's own
//! (`-max_total_time=S`, `-runs=N`, ...).

#![no_main]
#![allow(clippy::disallowed_methods)] // the target's name comes from the environment

use std::sync::OnceLock;

fn target() -> &'static strata_fuzz::Target {
    static TARGET: OnceLock<&'static strata_fuzz::Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let name = std::env::var("STRATA_FUZZ_TARGET").unwrap_or_default();
        strata_fuzz::TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| {
                panic!("set STRATA_FUZZ_TARGET to one of `strata-fuzz list`, not {name:?}")
            })
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (target().1)(data);
});
