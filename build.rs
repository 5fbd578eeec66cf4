//! Link settings of the `dagctl` binary.
//!
//! On Linux with glibc the binary is linked as a position-dependent executable (`-no-pie`):
//! a 30 MB PIE needs ~100,000 relocations applied at every start, which made `dagctl
//! --version` cost 5.5 ms instead of 2 ms, and every command pays it. Shared libraries, the
//! stack and the heap stay randomized (ASLR); only the binary's own addresses are fixed.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bin=dagctl=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
