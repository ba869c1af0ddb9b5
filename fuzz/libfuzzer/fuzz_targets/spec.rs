//! libFuzzer target `spec` (see ../../src/targets.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    kernels_fuzz::check(kernels_fuzz::targets::spec, data);
});
